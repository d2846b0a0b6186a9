//! djoser's UserViewSet: the API root, registration, the list, and the user object at
//! `users/me/`, `users/{id}/` and (per the API brief) PUT/PATCH `users/`.

use serde_json::json;
use worker::{Request, Response};

use crate::domain::email::{email_errors, normalize_email, INVALID_EMAIL};
use crate::domain::password::{validate_password, SimilarityAttributes};
use crate::domain::user::{NewUser, User};
use crate::domain::username::{normalize_username, username_errors};
use crate::email::templates::EmailKind;
use crate::error::{ApiError, FieldErrors};
use crate::http::body::{python_strip, Body};
use crate::http::throttle::{self, Scope};
use crate::http::{random, response, Ctx};
use crate::messages as msg;
use crate::storage::d1::StorageError;
use crate::tokens::password_hash::{self, HashCost, MAX_PASSWORD_CHARS};

/// Django's EmailField max_length on the user model.
const EMAIL_MAX: usize = 254;

// GET /auth/ (DRF API root): 200 {"users": "<absolute url>"}
/// The API root, with the absolute URL built from the request's host.
pub fn root(req: &Request) -> Result<Response, ApiError> {
    let url = req.url().map_err(ApiError::internal)?;
    let origin = url.origin().ascii_serialization();
    response::json(200, &json!({ "users": format!("{origin}/auth/users/") }))
}

/// The configured argon2 cost.
pub fn hash_cost(ctx: &Ctx) -> HashCost {
    HashCost {
        memory_kib: ctx.settings.argon2_memory_kib,
        iterations: ctx.settings.argon2_iterations,
        parallelism: ctx.settings.argon2_parallelism,
    }
}

/// A new argon2id hash of `password` with a fresh random salt.
pub fn hash_new_password(ctx: &Ctx, password: &str) -> Result<String, ApiError> {
    let salt = random::<16>()?;
    password_hash::hash_password(password, hash_cost(ctx), &salt).map_err(ApiError::internal)
}

/// A password field: required, trimmed, capped before any hashing.
pub fn password_field(body: &Body, name: &str, errors: &mut FieldErrors) -> Option<String> {
    body.required_max(name, MAX_PASSWORD_CHARS, errors)
}

/// 400 with a bare JSON list of one message. djoser raises some errors with `self.fail(..)` outside
/// `is_valid()` (registration's IntegrityError, `get_user`'s e-mail not found), and DRF renders
/// such a ValidationError as a list, not as a field-keyed object.
pub fn bare_validation_error(message: &str) -> Result<Response, ApiError> {
    response::json(400, &[message])
}

/// Maps a storage error, turning unique-constraint conflicts into djoser's field errors.
pub fn storage_error(e: StorageError) -> ApiError {
    match e {
        StorageError::Conflict { field: "username" } => {
            ApiError::field("username", msg::USERNAME_TAKEN)
        }
        StorageError::Conflict { field: "email" } => ApiError::field("email", msg::EMAIL_TAKEN),
        other => ApiError::internal(other),
    }
}

/// The user's similarity attributes for Django's password validator.
pub fn similarity(user: &User) -> SimilarityAttributes<'_> {
    SimilarityAttributes {
        username: &user.username,
        first_name: &user.first_name,
        last_name: &user.last_name,
        email: &user.email,
    }
}

/// The e-mail field shared by registration and users/me: presence, format and length (no
/// uniqueness). `Some("")` is a valid blank address; `None` is absent or invalid.
fn email_format(body: &Body, errors: &mut FieldErrors) -> Option<String> {
    let email = match body.raw("email") {
        None => return None,
        // djoser-compat: the model field has blank=True, so "" is a valid e-mail here.
        Some(serde_json::Value::String(s)) if python_strip(s).is_empty() => {
            return Some(String::new())
        }
        Some(_) => body.email_text("email", false, INVALID_EMAIL, errors)?,
    };
    let problems = body.with_surrogate_message(
        &email,
        email_errors(&email, Some(EMAIL_MAX)),
        Some(INVALID_EMAIL),
    );
    if !problems.is_empty() {
        errors.extend("email", problems);
        return None;
    }
    Some(email)
}

/// The e-mail field of users/me: format, then uniqueness among the other users.
async fn email_field(
    ctx: &Ctx,
    body: &Body,
    errors: &mut FieldErrors,
    own_id: i64,
) -> Result<Option<String>, ApiError> {
    let Some(email) = email_format(body, errors) else {
        return Ok(None);
    };
    if email.is_empty() {
        return Ok(Some(email));
    }
    let conflicts = ctx
        .store
        .conflicts(None, Some(&email))
        .await
        .map_err(ApiError::internal)?;
    if conflicts.email_owner.is_some_and(|id| id != own_id) {
        errors.add("email", msg::EMAIL_TAKEN);
        return Ok(None);
    }
    Ok(Some(email))
}

// POST /auth/users/ (djoser "User Create"): 201 {email, username, id} | 400 fields | 400 [msg] | 429
/// Registers an inactive user (active when activation e-mails are off) and sends the e-mail.
pub async fn create(ctx: &Ctx) -> Result<Response, ApiError> {
    let body = match ctx.body() {
        Ok(body) => body,
        Err(e) => {
            // An unreadable body still counts (and a throttled client hears 429 first, as DRF
            // throttles before parsing).
            throttle::check(ctx, Scope::Register, None).await?;
            return Err(e);
        }
    };
    let mut errors = FieldErrors::new();
    // djoser-compat: DRF reports fields in serializer order: email, username, password. Both
    // uniqueness checks share one D1 round trip, so the errors are gathered per field first.
    let mut email_problems = FieldErrors::new();
    let mut email = email_format(&body, &mut email_problems);
    let mut username_problems = FieldErrors::new();
    let mut username = body.text("username", true, &mut username_problems);
    if let Some(name) = &username {
        let problems = body.with_surrogate_message(name, username_errors(name), None);
        if !problems.is_empty() {
            username_problems.extend("username", problems);
            username = None;
        }
    }
    // The throttle counts every registration attempt and shares its D1 round trip with the
    // uniqueness query.
    let wanted_email = email.as_deref().filter(|e| !e.is_empty());
    let conflicts =
        throttle::check_and_conflicts(ctx, Scope::Register, username.as_deref(), wanted_email)
            .await?;
    if conflicts.email_owner.is_some() {
        email_problems.add("email", msg::EMAIL_TAKEN);
        email = None;
    }
    if conflicts.name_taken {
        username_problems.add("username", msg::USERNAME_TAKEN);
        username = None;
    }
    errors.append(email_problems);
    errors.append(username_problems);
    let password = password_field(&body, "password", &mut errors);
    let re_password = body.required_if(
        ctx.settings.user_create_password_retype,
        "re_password",
        &mut errors,
    );
    errors.into_result()?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    let email = email.unwrap_or_default();

    // Object-level validation: Django's password validators against the unsaved user.
    let attributes = SimilarityAttributes {
        username: &username,
        first_name: "",
        last_name: "",
        email: &email,
    };
    let problems = validate_password(&password, Some(&attributes));
    if !problems.is_empty() {
        let mut errors = FieldErrors::new();
        errors.extend("password", problems);
        return Err(errors.into());
    }
    if ctx.settings.user_create_password_retype && re_password.as_deref() != Some(password.as_str())
    {
        return Err(ApiError::non_field(msg::PASSWORD_MISMATCH));
    }

    let new_user = NewUser {
        username: normalize_username(&username),
        email: normalize_email(&email),
        password: hash_new_password(ctx, &password)?,
        is_active: !ctx.settings.send_activation_email,
        date_joined: ctx.now,
    };
    let user = match ctx.store.create_user(&new_user).await {
        Ok(user) => user,
        // A concurrent registration of the same name won the unique index: the answer is the
        // one the losers would have had a moment later (issue 5 asks for exactly this).
        Err(StorageError::Conflict { field: "username" }) if new_user.username == username => {
            return Err(ApiError::field("username", msg::USERNAME_TAKEN))
        }
        // djoser-compat: the name passed the uniqueness check but its NFKC form (what is stored)
        // is taken: djoser's IntegrityError answer.
        Err(StorageError::Conflict { field: "username" }) => {
            return bare_validation_error(msg::CANNOT_CREATE_USER)
        }
        Err(e) => return Err(storage_error(e)),
    };
    if ctx.settings.send_activation_email {
        ctx.send_email(&user, EmailKind::Activation).await?;
    } else if ctx.settings.send_confirmation_email {
        ctx.send_email(&user, EmailKind::Confirmation).await?;
    }
    response::json(
        201,
        &json!({ "email": user.email, "username": user.username, "id": user.id }),
    )
}

// GET /auth/users/ (djoser "User List"): 200 [user...] | 401
/// Staff see every user; everyone else sees only themself (HIDE_USERS).
pub async fn list(ctx: &Ctx) -> Result<Response, ApiError> {
    let me = ctx.user()?;
    if me.is_staff || !ctx.settings.hide_users {
        let users = ctx.store.all_users().await.map_err(ApiError::internal)?;
        let list: Vec<_> = users.iter().map(User::public).collect();
        return response::json(200, &list);
    }
    response::json(200, &[me.public()])
}

// GET /auth/users/me/ (djoser "User"): 200 {email, id, username} | 401
/// The current user.
pub fn me(ctx: &Ctx) -> Result<Response, ApiError> {
    response::json(200, &ctx.user()?.public())
}

// PUT|PATCH /auth/users/me/ (and /auth/users/): 200 user | 400 {email} | 401
/// Updates the current user.
pub async fn update_me(ctx: &Ctx) -> Result<Response, ApiError> {
    let user = ctx.user()?.clone();
    update(ctx, user).await
}

/// Updates `target` (the only writable field is the e-mail). An e-mail change deactivates the user
/// and sends the activation e-mail to the new address (djoser's `perform_update`).
async fn update(ctx: &Ctx, mut target: User) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    let mut errors = FieldErrors::new();
    let email = email_field(ctx, &body, &mut errors, target.id).await?;
    errors.into_result()?;
    if let Some(email) = email {
        // djoser-compat: the comparison is case-sensitive and the new address is stored as sent.
        let changed = email != target.email;
        if changed {
            if ctx.settings.send_activation_email {
                target.is_active = false;
            }
            target.email = email;
            ctx.store
                .update_email(target.id, &target.email, target.is_active)
                .await
                .map_err(storage_error)?;
        }
    }
    if ctx.settings.send_activation_email && !target.is_active {
        ctx.send_email(&target, EmailKind::Activation).await?;
    }
    response::json(200, &target.public())
}

// DELETE /auth/users/me/: 204 | 400 {current_password} | 401
/// Deletes the current user after checking their password.
pub async fn destroy_me(ctx: &Ctx) -> Result<Response, ApiError> {
    let user = ctx.user()?.clone();
    destroy(ctx, &user).await
}

/// Checks the requester's `current_password` (DRF field-level), as djoser's delete and
/// set_password/set_username serializers do.
pub async fn check_current_password(
    ctx: &Ctx,
    body: &Body,
    errors: &mut FieldErrors,
) -> Result<(), ApiError> {
    let me = ctx.user()?;
    if let Some(current) = password_field(body, "current_password", errors) {
        throttle::check(ctx, Scope::Login, Some(&me.id.to_string())).await?;
        if !password_hash::verify_password(&current, &me.password) {
            errors.add("current_password", msg::INVALID_PASSWORD);
        }
    }
    Ok(())
}

async fn destroy(ctx: &Ctx, target: &User) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    let mut errors = FieldErrors::new();
    check_current_password(ctx, &body, &mut errors).await?;
    errors.into_result()?;
    ctx.store
        .delete_user(target.id)
        .await
        .map_err(ApiError::internal)?;
    response::no_content()
}

// GET|PUT|PATCH|DELETE /auth/users/{id}/: 200 | 204 | 400 | 401 | 403 (delete other) | 404
/// The user object by id: one's own, or anyone's for staff.
pub async fn detail(ctx: &Ctx, id: &str) -> Result<Response, ApiError> {
    let me = ctx.user()?.clone();
    // djoser-compat: a non-integer id is a plain 404, a missing one names the model.
    let Ok(id) = id.parse::<i64>() else {
        return Err(ApiError::not_found());
    };
    let target = if id == me.id {
        me.clone()
    } else {
        ctx.store
            .user_by_id(id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::detail(404, msg::NO_USER_MATCHES))?
    };
    let allowed = me.is_staff || target.id == me.id;
    match ctx.method.as_str() {
        "DELETE" if !allowed => Err(ApiError::permission_denied()),
        _ if !allowed && ctx.settings.hide_users => Err(ApiError::not_found()),
        _ if !allowed => Err(ApiError::permission_denied()),
        "GET" | "HEAD" => response::json(200, &target.public()),
        "PUT" | "PATCH" => update(ctx, target).await,
        "DELETE" => destroy(ctx, &target).await,
        other => Err(ApiError::MethodNotAllowed(other.to_string())),
    }
}
