//! Passkeys: djoser's four WebAuthn routes (`webauthn/signup_request/`, `signup/{ukey}/`,
//! `login_request/`, `login/`) and this service's own management of several passkeys per user
//! (`webauthn/credentials/`).
//!
//! Every ceremony starts with a challenge stored in D1: random, single use (the verification
//! takes it, whether or not it then verifies), dead after [`CHALLENGE_LIFETIME`]. The checks
//! themselves are `domain::webauthn`'s; this module finds the challenge, the user and the
//! credential, and decides what is stored and opened.
//!
//! Sign-in: a passkey is a complete sign-in, also for a user with TOTP on (possession of the
//! authenticator, and with WEBAUTHN_USER_VERIFICATION its PIN or biometric, are the factors), and
//! it works for every account that has a passkey, however it was created. Without a username
//! the sign-in is discoverable: the credential the browser picked names the user.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::config::LoginField;
use crate::domain::event::EventKind;
use crate::domain::user::{NewUser, ProfileChange, User};
use crate::domain::username::normalize_username;
use crate::domain::webauthn::{self as wa, Alg, Expect, Reject};
use crate::email::templates::EmailKind;
use crate::error::FieldErrors;
use crate::flows::mfa::Opened;
use crate::flows::throttle::{self, Scope, Subject};
use crate::flows::{links, session};
use crate::flows::{ok_if_empty, random, take, Checked, Cx, FlowError, Outbox};
use crate::messages as msg;
use crate::storage::{
    AuthTokenStore, PasskeyChallenge, PasskeyCredential, PasskeyStore, SessionIndex, StorageError,
    ThrottleStore, UserLookup, UserStore,
};

/// Seconds a challenge lives (djoser's has no end; its options say 60 s to the browser).
pub const CHALLENGE_LIFETIME: i64 = 300;
/// The characters of a sign-in challenge (djoser's `create_challenge(32)`).
pub const LOGIN_CHALLENGE_LENGTH: usize = 32;
/// The timeout the options give the browser, in milliseconds (djoser's).
pub const TIMEOUT_MS: u32 = 60_000;
/// The algorithms offered and accepted, in the order of preference the options give
/// authenticators: ES256 first (every authenticator has it; djoser's py_webauthn 0.4 offers it
/// first too), then EdDSA, then RS256 (Windows Hello's TPM keys; py_webauthn's second).
/// py_webauthn's third, PS256, is not verified here: authenticators with RSA keys sign RS256.
pub const ALGORITHMS: &[Alg] = &[Alg::Es256, Alg::EdDsa, Alg::Rs256];
/// The longest passkey name.
pub const MAX_NAME_CHARS: usize = 100;

const SIGNUP: &str = "signup";
const LOGIN: &str = "login";
const ADD: &str = "add";

/// The relying party, when passkeys are on (WEBAUTHN_RP_ID set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rp {
    /// WEBAUTHN_RP_ID.
    pub id: String,
    /// WEBAUTHN_RP_NAME, or SITE_NAME.
    pub name: String,
    /// WEBAUTHN_ORIGIN, or `https://` + the RP id.
    pub origin: String,
}

/// The relying party, or 404 while passkeys are off.
pub fn rp<S>(cx: &Cx<'_, S>) -> Result<Rp, FlowError> {
    let s = cx.settings;
    let id = s.webauthn_rp_id.clone().ok_or(FlowError::NotFound)?;
    Ok(Rp {
        name: s
            .webauthn_rp_name
            .clone()
            .unwrap_or_else(|| s.site_name.clone()),
        origin: s
            .webauthn_origin
            .clone()
            .unwrap_or_else(|| format!("https://{id}")),
        id,
    })
}

/// djoser's `create_challenge`: `length` random ASCII letters and digits.
pub fn random_text(length: usize) -> Result<String, FlowError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(length);
    while out.len() < length {
        for byte in random::<64>()? {
            // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
            if byte < 248 && out.len() < length {
                out.push(char::from(ALPHABET[usize::from(byte) % 62]));
            }
        }
    }
    Ok(out)
}

/// What `navigator.credentials.create()` is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreationOptions {
    /// The challenge (base64url text, as djoser sends it).
    pub challenge: String,
    /// The relying party.
    pub rp: Rp,
    /// The user handle (djoser's ukey).
    pub user_id: String,
    /// The account name.
    pub user_name: String,
    /// The name shown.
    pub display_name: String,
    /// Credential ids the authenticator must not register again.
    pub exclude: Vec<String>,
    /// Whether user verification is required.
    pub user_verification: bool,
}

/// What `navigator.credentials.get()` is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOptions {
    /// The challenge.
    pub challenge: String,
    /// The user's credential ids (empty for a discoverable sign-in).
    pub allow: Vec<String>,
    /// The RP id.
    pub rp_id: String,
    /// Whether user verification is required.
    pub user_verification: bool,
}

fn expect<'a>(rp: &'a Rp, challenge: &'a str, cx_uv: bool) -> Expect<'a> {
    Expect {
        challenge,
        origin: &rp.origin,
        rp_id: &rp.id,
        require_user_verification: cx_uv,
        algorithms: ALGORITHMS,
    }
}

/// A refusal: the reason to the log, djoser's one answer to the client.
fn refused<S>(cx: &Cx<'_, S>, what: &str, reason: &dyn std::fmt::Display) -> FlowError {
    (cx.warn)(&format!("webauthn: {what} refused: {reason}"));
    FlowError::WebauthnFailed
}

fn b64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// The challenge the client data echoes, read before anything is verified (it names the
/// stored challenge); the verification then checks it again, exactly.
fn echoed_challenge(client_data: &[u8]) -> Option<String> {
    wa::parse_client_data(client_data).ok().map(|c| c.challenge)
}

/// Spends the stored challenge of `purpose` that the client data echoes; a ceremony (`what`)
/// whose challenge is unknown, expired or already used is refused.
async fn take_echoed<S: PasskeyStore>(
    cx: &Cx<'_, S>,
    echoed: &str,
    purpose: &str,
    what: &str,
) -> Result<PasskeyChallenge, FlowError> {
    cx.store
        .take_passkey_challenge(echoed, purpose, cx.now)
        .await?
        .ok_or_else(|| refused(cx, what, &"unknown, expired or used challenge"))
}

/// The user `login` names by the LOGIN_FIELD, throttled like a login.
async fn find_by_login<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    login: &str,
) -> Result<Option<User>, FlowError> {
    let (lookup, subject) = match cx.settings.login_field {
        LoginField::Username => (UserLookup::Username(login), Subject::Username(login)),
        LoginField::Email => (UserLookup::Email(login), Subject::Email(login)),
    };
    throttle::check_and_find_user(cx, Scope::Login, Some(subject), lookup).await
}

/// POST webauthn/signup_request/ {username, display_name}: the creation options of a new
/// account's first passkey.
pub async fn signup_request<S: ThrottleStore + PasskeyStore>(
    cx: &Cx<'_, S>,
    username: Checked<String>,
    display_name: Checked<String>,
) -> Result<CreationOptions, FlowError> {
    let rp = rp(cx)?;
    let username = username.map(|n| normalize_username(&n));
    let wanted = username.as_deref().ok();
    let conflicts = throttle::check_and_conflicts(cx, None, wanted, None).await?;
    let mut errors = FieldErrors::new();
    let username = take(&mut errors, username);
    if let (Some(name), true) = (&username, conflicts.name_taken) {
        errors.add("username", msg::webauthn_user_exists(name));
    }
    let display_name = take(&mut errors, display_name);
    ok_if_empty(errors)?;
    let (Some(username), Some(display_name)) = (username, display_name) else {
        return Err(FlowError::Internal("validated fields missing".into()));
    };
    let length = usize::try_from(cx.settings.webauthn_challenge_length).unwrap_or(32);
    let challenge = random_text(length)?;
    let ukey = random_text(usize::try_from(cx.settings.webauthn_ukey_length).unwrap_or(20))?;
    cx.store
        .create_passkey_challenge(&PasskeyChallenge {
            challenge: challenge.clone(),
            purpose: SIGNUP.into(),
            ukey: Some(ukey.clone()),
            username: Some(username.clone()),
            display_name: Some(display_name.clone()),
            user_id: None,
            expires_at: cx.now.saturating_add(CHALLENGE_LIFETIME),
        })
        .await?;
    Ok(CreationOptions {
        challenge,
        rp,
        user_id: ukey,
        user_name: username,
        display_name,
        exclude: Vec::new(),
        user_verification: cx.settings.webauthn_user_verification,
    })
}

/// The signup body: the user fields of djoser's WebauthnCreateUserSerializer and the
/// authenticator's answer.
#[derive(Debug, Clone)]
pub struct SignupInput {
    /// The LOGIN_FIELD value (`username`).
    pub username: Checked<String>,
    /// `email` (a REQUIRED_FIELD of Django's user, blank allowed).
    pub email: Checked<Option<String>>,
    /// The configured user fields.
    pub profile: Checked<ProfileChange>,
    /// `clientData`: base64url clientDataJSON.
    pub client_data: Option<String>,
    /// `attObj`: base64url attestation object.
    pub att_obj: Option<String>,
}

/// A verified new credential, ready to store for `user_id`.
fn new_credential<S>(
    cx: &Cx<'_, S>,
    rp: &Rp,
    challenge: &str,
    client_data: Option<&str>,
    att_obj: Option<&str>,
) -> Result<wa::Registered, FlowError> {
    let (Some(client_data), Some(att_obj)) = (client_data.and_then(b64), att_obj.and_then(b64))
    else {
        return Err(refused(cx, "registration", &"undecodable fields"));
    };
    let uv = cx.settings.webauthn_user_verification;
    wa::verify_registration(&client_data, &att_obj, &expect(rp, challenge, uv))
        .map_err(|r| refused(cx, "registration", &r))
}

fn stored(
    user_id: i64,
    ukey: &str,
    name: &str,
    reg: &wa::Registered,
    now: i64,
) -> PasskeyCredential {
    PasskeyCredential {
        id: 0,
        user_id,
        credential_id: URL_SAFE_NO_PAD.encode(&reg.credential_id),
        public_key: URL_SAFE_NO_PAD.encode(&reg.public_key_cose),
        sign_count: i64::from(reg.sign_count),
        ukey: ukey.to_string(),
        name: name.to_string(),
        created: now,
        last_used: None,
    }
}

/// POST webauthn/signup/{ukey}/: verifies the first passkey and creates the account with it (no
/// usable password; activation as for a registration).
pub async fn signup<S: ThrottleStore + PasskeyStore>(
    cx: &Cx<'_, S>,
    ukey: &str,
    input: SignupInput,
) -> Result<(User, Outbox), FlowError> {
    let rp = rp(cx)?;
    let Some(pending) = cx.store.signup_challenge(ukey, cx.now).await? else {
        return Err(FlowError::NotFound);
    };
    let s = cx.settings;
    let email =
        crate::flows::customise::email_field(s, input.email, true).map(Option::unwrap_or_default);
    let username = input.username.map(|n| normalize_username(&n));
    let wanted_email = email.as_deref().ok().filter(|e| !e.is_empty());
    let conflicts =
        throttle::check_and_conflicts(cx, None, username.as_deref().ok(), wanted_email).await?;
    let mut errors = FieldErrors::new();
    let email = take(&mut errors, email);
    if email.as_deref().is_some_and(|e| !e.is_empty()) && conflicts.email_owner.is_some() {
        errors.add("email", msg::EMAIL_TAKEN);
    }
    let profile = take(&mut errors, input.profile);
    let username = take(&mut errors, username);
    if username.is_some() && conflicts.name_taken {
        errors.add("username", msg::USERNAME_TAKEN);
    }
    ok_if_empty(errors)?;
    let (Some(email), Some(profile), Some(username)) = (email, profile, username) else {
        return Err(FlowError::Internal("validated fields missing".into()));
    };
    // The authenticator stored the name of signup_request: the account gets that name.
    if pending.username.as_deref() != Some(username.as_str()) {
        return Err(refused(
            cx,
            "signup",
            &"username differs from signup_request's",
        ));
    }
    let Some(pending) = cx
        .store
        .take_passkey_challenge(&pending.challenge, SIGNUP, cx.now)
        .await?
    else {
        return Err(refused(cx, "signup", &"challenge already used"));
    };
    let reg = new_credential(
        cx,
        &rp,
        &pending.challenge,
        input.client_data.as_deref(),
        input.att_obj.as_deref(),
    )?;
    let credential_id = URL_SAFE_NO_PAD.encode(&reg.credential_id);
    if cx
        .store
        .passkey_by_credential_id(&credential_id)
        .await?
        .is_some()
    {
        return Err(refused(cx, "signup", &"credential id already registered"));
    }
    let new_user = NewUser {
        username,
        email: crate::domain::email::normalize_email(&email),
        // Django's unusable password: "!" and random text, which no password matches.
        password: format!("!{}", random_text(40)?),
        is_active: !s.send_activation_email,
        activation_pending: s.send_activation_email,
        date_joined: cx.now,
        profile,
    };
    let user = crate::flows::registration::insert_user(cx.store, &new_user).await?;
    let name = pending.display_name.unwrap_or_default();
    match cx
        .store
        .add_passkey(&stored(user.id, ukey, &name, &reg, cx.now))
        .await
    {
        Ok(_) => {}
        Err(StorageError::Conflict { .. }) => {
            // Registered by a concurrent request meanwhile: this account has no way in.
            cx.store.delete_user(user.id).await?;
            return Err(refused(cx, "signup", &"credential id already registered"));
        }
        Err(e) => {
            cx.store.delete_user(user.id).await?;
            return Err(e.into());
        }
    }
    cx.record(EventKind::PasskeyAdded, user.id, None);
    let mut mail = Vec::new();
    if s.send_activation_email {
        links::queue(cx, &mut mail, &user, EmailKind::Activation)?;
    } else if s.send_confirmation_email {
        links::queue(cx, &mut mail, &user, EmailKind::Confirmation)?;
    }
    Ok((user, mail))
}

/// POST webauthn/login_request/ {username}: the request options of a sign-in; without a
/// username, of a discoverable one (any passkey of this RP).
pub async fn login_request<S: ThrottleStore + PasskeyStore>(
    cx: &Cx<'_, S>,
    login: Option<Checked<String>>,
) -> Result<RequestOptions, FlowError> {
    let rp = rp(cx)?;
    let field = session::login_field_name(cx.settings.login_field);
    let (user_id, allow) = match login {
        None => {
            throttle::check(cx, Scope::Login, None).await?;
            (None, Vec::new())
        }
        Some(login) => {
            let login = login?;
            let user = find_by_login(cx, &login).await?.filter(|u| u.is_active);
            let passkeys = match &user {
                Some(user) => cx.store.passkeys(user.id).await?,
                None => Vec::new(),
            };
            let Some(user) = user.filter(|_| !passkeys.is_empty()) else {
                return Err(FlowError::field(field, msg::INVALID_CREDENTIALS));
            };
            let allow = passkeys.into_iter().map(|p| p.credential_id).collect();
            (Some(user.id), allow)
        }
    };
    let challenge = random_text(LOGIN_CHALLENGE_LENGTH)?;
    cx.store
        .create_passkey_challenge(&PasskeyChallenge {
            challenge: challenge.clone(),
            purpose: LOGIN.into(),
            ukey: None,
            username: None,
            display_name: None,
            user_id,
            expires_at: cx.now.saturating_add(CHALLENGE_LIFETIME),
        })
        .await?;
    Ok(RequestOptions {
        challenge,
        allow,
        rp_id: rp.id,
        user_verification: cx.settings.webauthn_user_verification,
    })
}

/// The login body.
#[derive(Debug, Clone, Default)]
pub struct LoginInput {
    /// The LOGIN_FIELD value; absent for a discoverable sign-in.
    pub login: Option<Checked<String>>,
    /// `id`: the credential id (base64url); required without a login.
    pub credential_id: Option<String>,
    /// `clientData`: base64url clientDataJSON.
    pub client_data: Option<String>,
    /// `authData`: base64url authenticator data.
    pub auth_data: Option<String>,
    /// `signature`: hex (djoser's encoding).
    pub signature: Option<String>,
    /// `userHandle`, when the client sends it: base64url of the user handle (or, as py_webauthn
    /// 0.4 compares it, the username).
    pub user_handle: Option<String>,
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// POST webauthn/login/: verifies an assertion and opens a session (djoser's DRF token, or with
/// WEBAUTHN_LOGIN_RESPONSE=jwt a JWT pair).
pub async fn login<S: ThrottleStore + PasskeyStore + AuthTokenStore + SessionIndex>(
    cx: &Cx<'_, S>,
    input: LoginInput,
) -> Result<Opened, FlowError> {
    let rp = rp(cx)?;
    let field = session::login_field_name(cx.settings.login_field);
    // djoser's serializer finds the user first: an unknown name is a field error.
    let named = match input.login {
        Some(login) => {
            let login = login?;
            let user = find_by_login(cx, &login).await?.filter(|u| u.is_active);
            let passkeys = match &user {
                Some(user) => cx.store.passkeys(user.id).await?,
                None => Vec::new(),
            };
            match user.filter(|_| !passkeys.is_empty()) {
                Some(user) => Some((user, passkeys)),
                None => return Err(FlowError::field(field, msg::INVALID_CREDENTIALS)),
            }
        }
        None => {
            throttle::check(cx, Scope::Login, None).await?;
            None
        }
    };
    let (Some(client_data), Some(auth_data), Some(signature)) = (
        input.client_data.as_deref().and_then(b64),
        input.auth_data.as_deref().and_then(b64),
        input.signature.as_deref().and_then(unhex),
    ) else {
        return Err(refused(cx, "sign-in", &"undecodable fields"));
    };
    let Some(echoed) = echoed_challenge(&client_data) else {
        return Err(refused(cx, "sign-in", &Reject::Malformed("client data")));
    };
    let challenge = take_echoed(cx, &echoed, LOGIN, "sign-in").await?;
    let chosen = input.credential_id.as_deref();
    let (user, candidates) = match named {
        Some((user, passkeys)) => {
            let candidates: Vec<_> = passkeys
                .into_iter()
                .filter(|p| chosen.is_none_or(|id| id == p.credential_id))
                .collect();
            (user, candidates)
        }
        None => {
            let Some(id) = chosen else {
                return Err(refused(cx, "sign-in", &"no credential id"));
            };
            let Some(passkey) = cx.store.passkey_by_credential_id(id).await? else {
                return Err(refused(cx, "sign-in", &"unknown credential"));
            };
            let user = cx
                .store
                .find_user(UserLookup::Id(passkey.user_id))
                .await?
                .filter(|u| u.is_active);
            let Some(user) = user else {
                return Err(refused(cx, "sign-in", &"inactive account"));
            };
            (user, vec![passkey])
        }
    };
    if challenge.user_id.is_some_and(|id| id != user.id) {
        return Err(refused(cx, "sign-in", &"challenge issued to another user"));
    }
    // §7.2 step 6: a user handle, when given, names the credential's owner.
    if let Some(handle) = input.user_handle.as_deref().filter(|h| !h.is_empty()) {
        let decoded = b64(handle);
        let owns = |p: &PasskeyCredential| decoded.as_deref() == Some(p.ukey.as_bytes());
        if handle != user.username && !candidates.iter().any(owns) {
            return Err(refused(cx, "sign-in", &"user handle of another account"));
        }
    }
    let uv = cx.settings.webauthn_user_verification;
    let mut last = Reject::Signature;
    for passkey in &candidates {
        let Some(cose) = b64(&passkey.public_key) else {
            continue;
        };
        let stored_count = u32::try_from(passkey.sign_count).unwrap_or(u32::MAX);
        match wa::verify_assertion(
            &client_data,
            &auth_data,
            &signature,
            &cose,
            stored_count,
            &expect(&rp, &challenge.challenge, uv),
        ) {
            Ok(asserted) => {
                if !cx
                    .store
                    .advance_passkey(
                        passkey.id,
                        passkey.sign_count,
                        i64::from(asserted.sign_count),
                        cx.now,
                    )
                    .await?
                {
                    return Err(refused(cx, "sign-in", &"counter moved by another sign-in"));
                }
                cx.record(EventKind::PasskeyLogin, user.id, None);
                return open(cx, &user).await;
            }
            Err(reject @ Reject::Counter { .. }) => {
                cx.record(EventKind::PasskeyCounterRegressed, user.id, None);
                return Err(refused(cx, "sign-in", &reject));
            }
            Err(reject) => last = reject,
        }
    }
    Err(refused(cx, "sign-in", &last))
}

async fn open<S: UserStore + AuthTokenStore + SessionIndex>(
    cx: &Cx<'_, S>,
    user: &User,
) -> Result<Opened, FlowError> {
    if cx.settings.webauthn_login_jwt {
        let key = session::jwt_key(cx)?;
        Ok(Opened::Jwt(
            session::open_jwt_session(cx, &key, user).await?,
        ))
    } else {
        Ok(Opened::Token(session::open_token_session(cx, user).await?))
    }
}

/// GET webauthn/credentials/: the caller's passkeys.
pub async fn list<S: PasskeyStore>(
    cx: &Cx<'_, S>,
    me: &User,
) -> Result<Vec<PasskeyCredential>, FlowError> {
    rp(cx)?;
    Ok(cx.store.passkeys(me.id).await?)
}

/// POST webauthn/credentials/ (first step) {current_password}: creation options for another
/// passkey of the caller. An account with a usable password confirms it first, as for turning
/// on TOTP: a stolen access token alone must not plant a lasting way in.
pub async fn add_request<S: ThrottleStore + PasskeyStore>(
    cx: &Cx<'_, S>,
    me: &User,
    current_password: Checked<String>,
) -> Result<CreationOptions, FlowError> {
    let rp = rp(cx)?;
    if has_usable_password(me) {
        let mut errors = FieldErrors::new();
        crate::flows::password::check_current_password(cx, me, current_password, &mut errors)
            .await?;
        ok_if_empty(errors)?;
    }
    let existing = cx.store.passkeys(me.id).await?;
    // One user handle per account: a discoverable sign-in names the same user by any passkey.
    let ukey = match existing.first() {
        Some(p) => p.ukey.clone(),
        None => random_text(usize::try_from(cx.settings.webauthn_ukey_length).unwrap_or(20))?,
    };
    let challenge =
        random_text(usize::try_from(cx.settings.webauthn_challenge_length).unwrap_or(32))?;
    cx.store
        .create_passkey_challenge(&PasskeyChallenge {
            challenge: challenge.clone(),
            purpose: ADD.into(),
            ukey: Some(ukey.clone()),
            username: None,
            display_name: None,
            user_id: Some(me.id),
            expires_at: cx.now.saturating_add(CHALLENGE_LIFETIME),
        })
        .await?;
    let login = match cx.settings.login_field {
        LoginField::Username => me.username.clone(),
        LoginField::Email => me.email.clone(),
    };
    Ok(CreationOptions {
        challenge,
        rp,
        user_id: ukey,
        display_name: login.clone(),
        user_name: login,
        exclude: existing.into_iter().map(|p| p.credential_id).collect(),
        user_verification: cx.settings.webauthn_user_verification,
    })
}

fn checked_name(name: Option<Checked<String>>) -> Result<String, FlowError> {
    let name = match name {
        Some(name) => name?,
        None => String::new(),
    };
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(FlowError::field(
            "name",
            format!("Ensure this field has no more than {MAX_NAME_CHARS} characters."),
        ));
    }
    Ok(name)
}

/// POST webauthn/credentials/ (second step) {clientData, attObj, name}: stores the new passkey.
pub async fn add<S: PasskeyStore>(
    cx: &Cx<'_, S>,
    me: &User,
    client_data: Option<String>,
    att_obj: Option<String>,
    name: Option<Checked<String>>,
) -> Result<PasskeyCredential, FlowError> {
    let rp = rp(cx)?;
    let name = checked_name(name)?;
    let echoed = client_data
        .as_deref()
        .and_then(b64)
        .and_then(|c| echoed_challenge(&c));
    let Some(echoed) = echoed else {
        return Err(refused(
            cx,
            "registration",
            &Reject::Malformed("client data"),
        ));
    };
    let challenge = take_echoed(cx, &echoed, ADD, "registration").await?;
    if challenge.user_id != Some(me.id) {
        return Err(refused(
            cx,
            "registration",
            &"challenge issued to another user",
        ));
    }
    let reg = new_credential(
        cx,
        &rp,
        &challenge.challenge,
        client_data.as_deref(),
        att_obj.as_deref(),
    )?;
    let ukey = challenge.ukey.unwrap_or_default();
    let mut credential = stored(me.id, &ukey, &name, &reg, cx.now);
    credential.id = match cx.store.add_passkey(&credential).await {
        Ok(id) => id,
        Err(StorageError::Conflict { .. }) => {
            return Err(FlowError::non_field(msg::WEBAUTHN_CREDENTIAL_TAKEN))
        }
        Err(e) => return Err(e.into()),
    };
    cx.record(EventKind::PasskeyAdded, me.id, None);
    Ok(credential)
}

/// PATCH webauthn/credentials/{id}/ {name}.
pub async fn rename<S: PasskeyStore>(
    cx: &Cx<'_, S>,
    me: &User,
    id: i64,
    name: Option<Checked<String>>,
) -> Result<PasskeyCredential, FlowError> {
    rp(cx)?;
    let name = checked_name(name)?;
    if !cx.store.rename_passkey(me.id, id, &name).await? {
        return Err(FlowError::NotFound);
    }
    cx.store
        .passkeys(me.id)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or(FlowError::NotFound)
}

/// Whether the user can sign in with a password (Django's unusable passwords start with `!`).
pub fn has_usable_password(user: &User) -> bool {
    !user.password.is_empty() && !user.password.starts_with('!')
}

/// DELETE webauthn/credentials/{id}/: removes a passkey, but not the last way in of an account
/// without a usable password.
pub async fn remove<S: PasskeyStore>(cx: &Cx<'_, S>, me: &User, id: i64) -> Result<(), FlowError> {
    rp(cx)?;
    let passkeys = cx.store.passkeys(me.id).await?;
    if !passkeys.iter().any(|p| p.id == id) {
        return Err(FlowError::NotFound);
    }
    if passkeys.len() == 1 && !has_usable_password(me) {
        return Err(FlowError::non_field(msg::WEBAUTHN_LAST_CREDENTIAL));
    }
    if !cx.store.delete_passkey(me.id, id).await? {
        return Err(FlowError::NotFound);
    }
    cx.record(EventKind::PasskeyRemoved, me.id, None);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::domain::webauthn::testing::{
        assertion, attestation_object, auth_data, client_data, TestKey, TestRsa,
    };
    use crate::domain::webauthn::{FLAG_UP, FLAG_UV};
    use crate::flows::testing::{cx, cx_at, settings, user_with_password, NOW};
    use crate::storage::memory::{block_on, both, MemoryStore};

    const RP_ID: &str = "example.com";
    const ORIGIN: &str = "https://app.example.com";

    fn rp_settings() -> Settings {
        Settings {
            webauthn_rp_id: Some(RP_ID.into()),
            webauthn_origin: Some(ORIGIN.into()),
            send_activation_email: false,
            ..settings()
        }
    }

    fn created(key: &TestKey, id: &[u8], challenge: &str) -> (String, String) {
        let cd = client_data("webauthn.create", challenge, ORIGIN);
        let cose = key.cose();
        let auth = auth_data(RP_ID, FLAG_UP | FLAG_UV | wa::FLAG_AT, 0, Some((id, &cose)));
        let obj = attestation_object("none", &auth, vec![]);
        (URL_SAFE_NO_PAD.encode(cd), URL_SAFE_NO_PAD.encode(obj))
    }

    fn asserted(
        key: &TestKey,
        id: &[u8],
        challenge: &str,
        count: u32,
        login: Option<&str>,
    ) -> LoginInput {
        let cd = client_data("webauthn.get", challenge, ORIGIN);
        let auth = auth_data(RP_ID, FLAG_UP | FLAG_UV, count, None);
        let sig = assertion(key, &auth, &cd);
        LoginInput {
            login: login.map(|l| Ok(l.to_string())),
            credential_id: Some(URL_SAFE_NO_PAD.encode(id)),
            client_data: Some(URL_SAFE_NO_PAD.encode(cd)),
            auth_data: Some(URL_SAFE_NO_PAD.encode(auth)),
            signature: Some(crate::tokens::auth_token::hex(&sig)),
            user_handle: None,
        }
    }

    /// Signs "pat" up with `key` (credential id `id`): the new user.
    fn sign_up(s: &Settings, store: &MemoryStore, key: &TestKey, id: &[u8]) -> User {
        let options = block_on(signup_request(
            &cx(s, store),
            Ok("pat".into()),
            Ok("Pat".into()),
        ))
        .unwrap();
        let (client_data, att_obj) = created(key, id, &options.challenge);
        let input = SignupInput {
            username: Ok("pat".into()),
            email: Ok(None),
            profile: Ok(ProfileChange::default()),
            client_data: Some(client_data),
            att_obj: Some(att_obj),
        };
        block_on(signup(&cx(s, store), &options.user_id, input))
            .unwrap()
            .0
    }

    fn challenge_for(s: &Settings, store: &MemoryStore, login: Option<&str>) -> String {
        block_on(login_request(
            &cx(s, store),
            login.map(|l| Ok(l.to_string())),
        ))
        .unwrap()
        .challenge
    }

    #[test]
    fn everything_is_off_without_an_rp_id() {
        let s = settings();
        let store = MemoryStore::new();
        let got = block_on(signup_request(
            &cx(&s, &store),
            Ok("pat".into()),
            Ok("Pat".into()),
        ));
        assert_eq!(got, Err(FlowError::NotFound));
        let got = block_on(login(&cx(&s, &store), LoginInput::default()));
        assert_eq!(got, Err(FlowError::NotFound));
    }

    #[test]
    fn sign_up_then_sign_in_once_per_challenge() {
        let s = rp_settings();
        let store = MemoryStore::new();
        let key = TestKey::p256(21);
        let user = sign_up(&s, &store, &key, b"cred-1");
        assert!(!has_usable_password(&user));
        assert_eq!(store.snapshot().passkeys.len(), 1);
        let challenge = challenge_for(&s, &store, Some("pat"));
        let input = asserted(&key, b"cred-1", &challenge, 1, Some("pat"));
        let opened = block_on(login(&cx(&s, &store), input.clone())).unwrap();
        assert!(matches!(opened, Opened::Token(_)));
        // The challenge is spent.
        assert_eq!(
            block_on(login(&cx(&s, &store), input)),
            Err(FlowError::WebauthnFailed)
        );
        // A challenge dies after its lifetime.
        let challenge = challenge_for(&s, &store, Some("pat"));
        let late = cx_at(&s, &store, NOW + CHALLENGE_LIFETIME);
        let input = asserted(&key, b"cred-1", &challenge, 2, Some("pat"));
        assert_eq!(
            block_on(login(&late, input)),
            Err(FlowError::WebauthnFailed)
        );
    }

    #[test]
    fn an_rsa_passkey_signs_up_and_in_and_a_weak_rsa_key_changes_nothing() {
        let s = rp_settings();
        let store = MemoryStore::new();
        // A 1024-bit RSA key is refused at signup: no user, no passkey.
        let weak = TestKey::Rsa(TestRsa::generate(1024, 9));
        let options = block_on(signup_request(
            &cx(&s, &store),
            Ok("pat".into()),
            Ok("Pat".into()),
        ))
        .unwrap();
        let (client_data, att_obj) = created(&weak, b"cred-weak", &options.challenge);
        let input = SignupInput {
            username: Ok("pat".into()),
            email: Ok(None),
            profile: Ok(ProfileChange::default()),
            client_data: Some(client_data),
            att_obj: Some(att_obj),
        };
        assert_eq!(
            block_on(signup(&cx(&s, &store), &options.user_id, input)).map(|_| ()),
            Err(FlowError::WebauthnFailed)
        );
        assert!(store.snapshot().users.is_empty());
        assert!(store.snapshot().passkeys.is_empty());
        // A 2048-bit one signs up, then in.
        let key = TestKey::rsa();
        sign_up(&s, &store, &key, b"cred-rsa");
        let stored = store.snapshot().passkeys.values().next().unwrap().clone();
        assert_eq!(
            wa::parse_cose_key(&URL_SAFE_NO_PAD.decode(&stored.public_key).unwrap())
                .unwrap()
                .alg(),
            Alg::Rs256
        );
        let challenge = challenge_for(&s, &store, Some("pat"));
        let input = asserted(&key, b"cred-rsa", &challenge, 1, Some("pat"));
        assert!(block_on(login(&cx(&s, &store), input)).is_ok());
        // Another RSA key's assertion for that credential is refused.
        let challenge = challenge_for(&s, &store, Some("pat"));
        let input = asserted(
            &TestKey::rsa_other(),
            b"cred-rsa",
            &challenge,
            2,
            Some("pat"),
        );
        assert_eq!(
            block_on(login(&cx(&s, &store), input)).map(|_| ()),
            Err(FlowError::WebauthnFailed)
        );
    }

    #[test]
    fn a_counter_that_does_not_grow_is_refused_and_recorded() {
        let s = rp_settings();
        let store = MemoryStore::new();
        let key = TestKey::ed25519(22);
        let user = sign_up(&s, &store, &key, b"cred-2");
        let challenge = challenge_for(&s, &store, Some("pat"));
        block_on(login(
            &cx(&s, &store),
            asserted(&key, b"cred-2", &challenge, 7, Some("pat")),
        ))
        .unwrap();
        let challenge = challenge_for(&s, &store, Some("pat"));
        let c = cx(&s, &store);
        let got = block_on(login(
            &c,
            asserted(&key, b"cred-2", &challenge, 7, Some("pat")),
        ));
        assert_eq!(got, Err(FlowError::WebauthnFailed));
        let kinds: Vec<_> = c
            .events
            .take()
            .into_iter()
            .map(|e| (e.kind, e.user_id))
            .collect();
        assert_eq!(kinds, [(EventKind::PasskeyCounterRegressed, user.id)]);
        assert_eq!(
            store
                .snapshot()
                .passkeys
                .values()
                .next()
                .unwrap()
                .sign_count,
            7
        );
    }

    #[test]
    fn two_sign_ins_racing_with_one_challenge_open_one_session() {
        let s = rp_settings();
        let store = MemoryStore::interleaved();
        let key = TestKey::p256(23);
        sign_up(&s, &store, &key, b"cred-3");
        let challenge = challenge_for(&s, &store, None);
        let input = asserted(&key, b"cred-3", &challenge, 1, None);
        let (a, b) = both(
            login(&cx(&s, &store), input.clone()),
            login(&cx(&s, &store), input),
        );
        assert_eq!(
            [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
            1,
            "{a:?} {b:?}"
        );
    }

    #[test]
    fn signup_binds_the_requested_name_and_keeps_field_errors_free() {
        let s = rp_settings();
        let store = MemoryStore::new();
        let key = TestKey::p256(24);
        let options = block_on(signup_request(
            &cx(&s, &store),
            Ok("pat".into()),
            Ok("Pat".into()),
        ))
        .unwrap();
        let (client_data, att_obj) = created(&key, b"cred-4", &options.challenge);
        let input = |name: &str| SignupInput {
            username: Ok(name.into()),
            email: Ok(None),
            profile: Ok(ProfileChange::default()),
            client_data: Some(client_data.clone()),
            att_obj: Some(att_obj.clone()),
        };
        let other = block_on(signup(&cx(&s, &store), &options.user_id, input("mallory")));
        assert_eq!(other.map(|_| ()), Err(FlowError::WebauthnFailed));
        assert!(store.snapshot().users.is_empty());
        // That refusal spent nothing: the right name still signs up.
        assert!(block_on(signup(&cx(&s, &store), &options.user_id, input("pat"))).is_ok());
        let again = block_on(signup(&cx(&s, &store), &options.user_id, input("pat")));
        assert_eq!(again.map(|_| ()), Err(FlowError::NotFound));
    }

    #[test]
    fn the_last_passkey_stays_unless_there_is_a_password() {
        let s = rp_settings();
        let store = MemoryStore::new();
        let key = TestKey::p256(25);
        let user = sign_up(&s, &store, &key, b"cred-5");
        let id = *store.snapshot().passkeys.keys().next().unwrap();
        assert!(matches!(
            block_on(remove(&cx(&s, &store), &user, id)),
            Err(FlowError::Fields(_))
        ));
        let other = user_with_password(&store, &s, 50, "olga", "o@example.com", "pw-123456789");
        assert_eq!(
            block_on(remove(&cx(&s, &store), &other, id)),
            Err(FlowError::NotFound)
        );
        // A password account adds one through the two steps, and may remove it.
        let wrong = block_on(add_request(&cx(&s, &store), &other, Ok("nope".into())));
        assert!(matches!(wrong, Err(FlowError::Fields(e)) if e.has("current_password")));
        let options = block_on(add_request(
            &cx(&s, &store),
            &other,
            Ok("pw-123456789".into()),
        ))
        .unwrap();
        let (client_data, att_obj) = created(&TestKey::p256(26), b"cred-6", &options.challenge);
        let added = block_on(add(
            &cx(&s, &store),
            &other,
            Some(client_data),
            Some(att_obj),
            None,
        ))
        .unwrap();
        assert_eq!(added.user_id, other.id);
        assert!(block_on(remove(&cx(&s, &store), &other, added.id)).is_ok());
    }
}
