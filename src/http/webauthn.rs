//! Passkeys at the edge: djoser's `webauthn/` routes with its exact bodies and encodings
//! (base64url `clientData`, `attObj`, `authData`; a hex `signature`), and this service's
//! `webauthn/credentials/` management.

use serde_json::{json, Value};
use worker::Response;

use crate::error::ApiError;
use crate::flows::customise;
use crate::flows::mfa::Opened;
use crate::flows::session::login_field_name;
use crate::flows::webauthn::{self, CreationOptions, LoginInput, RequestOptions, SignupInput};
use crate::http::body::Body;
use crate::http::{extract, jwt, response, Ctx};
use crate::storage::PasskeyCredential;

/// A string member, as sent (absent or not a string: `None`, which fails the verification).
fn text(body: &Body, name: &str) -> Option<String> {
    body.raw(name).and_then(Value::as_str).map(str::to_string)
}

/// py_webauthn 0.4's `registration_dict`, with the algorithms verified here.
fn creation_json(o: &CreationOptions, discoverable: bool) -> Value {
    let mut v = json!({
        "challenge": o.challenge,
        "rp": { "name": o.rp.name, "id": o.rp.id },
        "user": { "id": o.user_id, "name": o.user_name, "displayName": o.display_name },
        "pubKeyCredParams": webauthn::ALGORITHMS.iter()
            .map(|a| json!({ "alg": a.cose(), "type": "public-key" }))
            .collect::<Vec<_>>(),
        "timeout": webauthn::TIMEOUT_MS,
        "excludeCredentials": o.exclude.iter()
            .map(|id| json!({ "type": "public-key", "id": id }))
            .collect::<Vec<_>>(),
        "attestation": "direct",
        "extensions": { "webauthn.loc": true },
    });
    let mut selection = serde_json::Map::new();
    if discoverable {
        selection.insert("residentKey".into(), json!("preferred"));
    }
    if o.user_verification {
        selection.insert("userVerification".into(), json!("required"));
    }
    if !selection.is_empty() {
        v["authenticatorSelection"] = Value::Object(selection);
    }
    v
}

/// py_webauthn 0.4's `assertion_dict`.
fn request_json(o: &RequestOptions) -> Value {
    json!({
        "challenge": o.challenge,
        "allowCredentials": o.allow.iter()
            .map(|id| json!({
                "type": "public-key", "id": id, "transports": ["usb", "nfc", "ble", "internal"]
            }))
            .collect::<Vec<_>>(),
        "rpId": o.rp_id,
        "timeout": webauthn::TIMEOUT_MS,
        "userVerification": if o.user_verification { "required" } else { "discouraged" },
    })
}

fn credential_json(c: &PasskeyCredential) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "credential_id": c.credential_id,
        "sign_count": c.sign_count,
        "created": c.created,
        "last_used": c.last_used,
    })
}

// POST /auth/webauthn/signup_request/: 200 creation options | 400 | 404 | 429
/// The options of `navigator.credentials.create()` for a new account's passkey.
pub async fn signup_request(ctx: &Ctx) -> Result<Response, ApiError> {
    webauthn::rp(&ctx.flow())?;
    let body = ctx.body()?;
    let username = extract::username(&body, "username");
    let display_name = extract::required(&body, "display_name");
    let options = webauthn::signup_request(&ctx.flow(), username, display_name).await?;
    response::ok(&creation_json(&options, false))
}

// POST /auth/webauthn/signup/{ukey}/: 201 {email, username, id} | 400 | 404 | 429
/// Verifies the new passkey and creates the account with it.
pub async fn signup(ctx: &Ctx) -> Result<Response, ApiError> {
    webauthn::rp(&ctx.flow())?;
    let ukey = ctx.param.clone().unwrap_or_default();
    let body = ctx.body()?;
    let input = SignupInput {
        username: extract::username(&body, "username"),
        email: extract::model_email(&body),
        profile: customise::read_profile(
            ctx.settings,
            |n| body.raw(n),
            &|t| body.surrogate_message(t),
            true,
        ),
        client_data: text(&body, "clientData"),
        att_obj: text(&body, "attObj"),
    };
    let (user, mail) = match webauthn::signup(&ctx.flow(), &ukey, input).await {
        Err(crate::flows::FlowError::NotFound) => {
            return Err(ApiError::detail(404, crate::messages::WEBAUTHN_NO_OPTIONS))
        }
        other => other?,
    };
    ctx.send(mail);
    response::created(&user.created_representation(ctx.settings))
}

/// The LOGIN_FIELD member: absent means a discoverable sign-in.
fn login_member(ctx: &Ctx, body: &Body) -> Option<crate::flows::Checked<String>> {
    let field = login_field_name(ctx.settings.login_field);
    body.has(field).then(|| extract::required(body, field))
}

// POST /auth/webauthn/login_request/: 200 request options | 400 | 404 | 429
/// The options of `navigator.credentials.get()`: the user's passkeys, or any (no username).
pub async fn login_request(ctx: &Ctx) -> Result<Response, ApiError> {
    webauthn::rp(&ctx.flow())?;
    let body = ctx.body()?;
    let options = webauthn::login_request(&ctx.flow(), login_member(ctx, &body)).await?;
    response::ok(&request_json(&options))
}

// POST /auth/webauthn/login/: 201 {auth_token} | 201 {refresh, access} | 400 | 404 | 429
/// Verifies the assertion and signs in.
pub async fn login(ctx: &Ctx) -> Result<Response, ApiError> {
    webauthn::rp(&ctx.flow())?;
    let body = ctx.body()?;
    let input = LoginInput {
        login: login_member(ctx, &body),
        credential_id: text(&body, "id"),
        client_data: text(&body, "clientData"),
        auth_data: text(&body, "authData"),
        signature: text(&body, "signature"),
        user_handle: text(&body, "userHandle"),
    };
    match webauthn::login(&ctx.flow(), input).await? {
        Opened::Jwt(pair) => {
            let mut response = jwt::signed_in(ctx, &pair)?;
            response = response.with_status(201);
            Ok(response)
        }
        Opened::Token(key) => response::created(&json!({ "auth_token": key })),
    }
}

// GET /auth/webauthn/credentials/: 200 [credential] | 401 | 404
/// The caller's passkeys.
pub async fn list(ctx: &Ctx) -> Result<Response, ApiError> {
    let passkeys = webauthn::list(&ctx.flow(), ctx.user()?).await?;
    response::ok(&passkeys.iter().map(credential_json).collect::<Vec<_>>())
}

// POST /auth/webauthn/credentials/: 200 creation options | 201 credential | 400 | 401 | 404 | 429
/// Another passkey for the caller: without `attObj` the options (an account with a password
/// sends `current_password`), with it the new passkey.
pub async fn add(ctx: &Ctx) -> Result<Response, ApiError> {
    let me = ctx.user()?;
    webauthn::rp(&ctx.flow())?;
    let body = ctx.body()?;
    if !body.has("attObj") {
        let current = extract::password(&body, "current_password");
        let options = webauthn::add_request(&ctx.flow(), me, current).await?;
        return response::ok(&creation_json(&options, true));
    }
    let name = body.has("name").then(|| extract::required(&body, "name"));
    let credential = webauthn::add(
        &ctx.flow(),
        me,
        text(&body, "clientData"),
        text(&body, "attObj"),
        name,
    )
    .await?;
    response::created(&credential_json(&credential))
}

fn credential_param(ctx: &Ctx) -> Result<i64, ApiError> {
    ctx.param
        .as_deref()
        .and_then(|p| p.parse::<i64>().ok())
        .ok_or_else(ApiError::not_found)
}

// PATCH /auth/webauthn/credentials/{id}/: 200 credential | 400 | 401 | 404
/// Renames one of the caller's passkeys.
pub async fn rename(ctx: &Ctx) -> Result<Response, ApiError> {
    let me = ctx.user()?;
    webauthn::rp(&ctx.flow())?;
    let id = credential_param(ctx)?;
    let body = ctx.body()?;
    let name = Some(extract::required(&body, "name"));
    let credential = webauthn::rename(&ctx.flow(), me, id, name).await?;
    response::ok(&credential_json(&credential))
}

// DELETE /auth/webauthn/credentials/{id}/: 204 | 400 | 401 | 404
/// Removes one of the caller's passkeys (not the last of an account without a password).
pub async fn remove(ctx: &Ctx) -> Result<Response, ApiError> {
    let me = ctx.user()?;
    webauthn::rp(&ctx.flow())?;
    let id = credential_param(ctx)?;
    webauthn::remove(&ctx.flow(), me, id).await?;
    response::no_content()
}
