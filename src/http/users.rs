//! djoser's UserViewSet at the edge: the API root, registration, the list, and the user object
//! at `users/me/`, `users/{id}/` and (per the API brief) PUT/PATCH `users/`.

use serde_json::json;
use worker::Response;

use crate::config::Permission;
use crate::domain::user::User;
use crate::error::{ApiError, FieldErrors};
use crate::flows::account::{self, Access};
use crate::flows::customise::{self, Object};
use crate::flows::registration::{self, RegisterInput};
use crate::http::{extract, response, Ctx};
use crate::messages as msg;

// GET /auth/ (DRF API root): 200 {"users": "<absolute url>"}
/// The API root, with the absolute URL built from the request's host.
pub async fn root(ctx: &Ctx) -> Result<Response, ApiError> {
    response::ok(&json!({ "users": format!("{}/auth/users/", ctx.origin) }))
}

// POST /auth/users/ (djoser "User Create"): 201 {email, username, id} | 400 fields | 400 [msg] | 429
/// Registers an inactive user (active when activation e-mails are off) and sends the e-mail.
pub async fn create(ctx: &Ctx) -> Result<Response, ApiError> {
    // DRF checks permissions before throttles and before the body is read.
    permit(ctx, ctx.settings.permissions.user_create)?;
    let cx = ctx.flow();
    let body = match ctx.body() {
        Ok(body) => body,
        Err(e) => {
            // An unreadable body still counts, and a throttled client hears 429 first.
            registration::count_unreadable(&cx).await?;
            return Err(e);
        }
    };
    let input = RegisterInput {
        raw_email: Some(extract::raw_string(&body, "email")),
        email: extract::model_email(&body),
        profile: customise::read_profile(
            ctx.settings,
            |n| body.raw(n),
            &|t| body.surrogate_message(t),
            true,
        ),
        username: extract::username(&body, "username"),
        password: extract::password(&body, "password"),
        re_password: extract::required_if(
            &body,
            ctx.settings.user_create_password_retype,
            "re_password",
        ),
    };
    let done = registration::register(&cx, input).await?;
    ctx.send(done.mail);
    response::created(&done.user.created_representation(ctx.settings))
}

/// The PERMISSIONS_* rule of a user endpoint (view level: DRF's `has_permission`; the object
/// rule of CurrentUserOrAdmin is `account::target`'s).
fn permit(ctx: &Ctx, permission: Permission) -> Result<(), ApiError> {
    Ok(customise::permit(
        permission,
        ctx.user.as_ref(),
        Object::None,
    )?)
}

/// The user object as the configured UserSerializer shows it.
fn shown(ctx: &Ctx, user: &User) -> Result<Response, ApiError> {
    response::ok(&user.representation(ctx.settings))
}

// GET /auth/users/ (djoser "User List"): 200 [user...] | 401
/// Staff see every user; everyone else sees only themself (HIDE_USERS).
pub async fn list(ctx: &Ctx) -> Result<Response, ApiError> {
    let me = ctx.user()?;
    permit(ctx, ctx.settings.permissions.user_list)?;
    let users = account::list(&ctx.flow(), me).await?;
    let list: Vec<_> = users
        .iter()
        .map(|u| u.representation(ctx.settings))
        .collect();
    response::ok(&list)
}

// GET /auth/users/me/ (djoser "User"): 200 {email, id, username} | 401
/// The current user.
pub async fn me(ctx: &Ctx) -> Result<Response, ApiError> {
    let me = ctx.user()?;
    permit(ctx, ctx.settings.permissions.user)?;
    shown(ctx, me)
}

/// Updates `target` from the body's e-mail field and sends what the change needs.
async fn update(ctx: &Ctx, target: User) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    // PUT validates as a full update (required fields must be sent), PATCH as a partial one.
    let full = ctx.method == "PUT";
    let profile = customise::read_profile(
        ctx.settings,
        |n| body.raw(n),
        &|t| body.surrogate_message(t),
        full,
    );
    let done = account::update_with_profile(
        &ctx.flow(),
        target,
        extract::model_email(&body),
        profile,
        full,
    )
    .await?;
    ctx.send(done.mail);
    shown(ctx, &done.user)
}

// PUT|PATCH /auth/users/me/ (and /auth/users/): 200 user | 400 {email} | 401
/// Updates the current user.
pub async fn update_me(ctx: &Ctx) -> Result<Response, ApiError> {
    let me = ctx.user()?;
    permit(ctx, ctx.settings.permissions.user)?;
    update(ctx, me.clone()).await
}

/// Deletes `target` after checking the caller's `current_password`.
async fn destroy(ctx: &Ctx, target: &User) -> Result<Response, ApiError> {
    let body = ctx.body()?;
    let current = extract::password(&body, "current_password");
    account::destroy(&ctx.flow(), ctx.user()?, target, current).await?;
    response::no_content()
}

// DELETE /auth/users/me/: 204 | 400 {current_password} | 401
/// Deletes the current user after checking their password.
pub async fn destroy_me(ctx: &Ctx) -> Result<Response, ApiError> {
    let me = ctx.user()?;
    permit(ctx, ctx.settings.permissions.user_delete)?;
    destroy(ctx, me).await
}

/// The `users/{id}/` object, if the caller may `access` it.
async fn target(ctx: &Ctx, access: Access) -> Result<User, ApiError> {
    let id = ctx.param.as_deref().unwrap_or_default();
    Ok(account::target(&ctx.flow(), ctx.user()?, id, access).await?)
}

// GET /auth/users/{id}/: 200 | 401 | 403 | 404
/// The user object by id: one's own, or anyone's for staff.
pub async fn detail(ctx: &Ctx) -> Result<Response, ApiError> {
    ctx.user()?;
    permit(ctx, ctx.settings.permissions.user)?;
    shown(ctx, &target(ctx, Access::Read).await?)
}

// PUT|PATCH /auth/users/{id}/: 200 | 400 | 401 | 403 | 404
/// Updates a user object by id.
pub async fn update_detail(ctx: &Ctx) -> Result<Response, ApiError> {
    ctx.user()?;
    permit(ctx, ctx.settings.permissions.user)?;
    let user = target(ctx, Access::Write).await?;
    update(ctx, user).await
}

// DELETE /auth/users/{id}/: 204 | 400 | 401 | 403 (someone else) | 404
/// Deletes a user object by id (one's own, or anyone's for staff).
pub async fn destroy_detail(ctx: &Ctx) -> Result<Response, ApiError> {
    ctx.user()?;
    permit(ctx, ctx.settings.permissions.user_delete)?;
    let user = target(ctx, Access::Delete).await?;
    destroy(ctx, &user).await
}

// POST /auth/users/email_change_confirm/ (this service's own): 204 | 400 {uid|token|email} | 429
/// Moves the account to its pending address, with the link mailed there.
pub async fn email_change_confirm(ctx: &Ctx) -> Result<Response, ApiError> {
    let (uid, token) = extract::link(&ctx.body()?)?;
    account::email_change_confirm(&ctx.flow(), &uid, &token).await?;
    response::no_content()
}

// POST /auth/users/email_change_cancel/ (this service's own): 204 | 400 {uid|token} | 429
/// Drops a pending e-mail change, with the link mailed to the old address.
pub async fn email_change_cancel(ctx: &Ctx) -> Result<Response, ApiError> {
    let (uid, token) = extract::link(&ctx.body()?)?;
    account::email_change_cancel(&ctx.flow(), &uid, &token).await?;
    response::no_content()
}

/// The `cursor` and `limit` query parameters of an event-log page, checked as DRF's
/// IntegerFields would be.
fn page_params(ctx: &Ctx) -> Result<(Option<i64>, usize), ApiError> {
    let mut errors = FieldErrors::new();
    let mut read = |name: &str| -> Option<i64> {
        let raw = ctx.query.iter().find(|(k, _)| k == name).map(|(_, v)| v)?;
        match raw.trim().parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                errors.add(name, msg::INVALID_INTEGER);
                None
            }
        }
    };
    let cursor = read("cursor");
    let limit = read("limit");
    errors.into_result()?;
    let limit = limit.map_or(50, |n| usize::try_from(n).unwrap_or(usize::MAX));
    Ok((cursor, limit))
}

/// One event-log page as JSON: newest first, and the cursor of the next page.
async fn events_page(ctx: &Ctx, target: &User) -> Result<Response, ApiError> {
    let (cursor, limit) = page_params(ctx)?;
    let page = account::events(&ctx.flow(), target, cursor, limit).await?;
    let results: Vec<_> = page
        .events
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "kind": e.kind,
                "at": e.at,
                "session": e.session,
                "ip": e.ip,
                "user_agent": e.user_agent,
                "country": e.country,
            })
        })
        .collect();
    response::ok(&json!({ "next": page.next.map(|n| n.to_string()), "results": results }))
}

// GET /auth/users/me/events/?cursor=&limit= (this service's own): 200 {next, results} | 400 | 401
/// The caller's security events, newest first.
pub async fn my_events(ctx: &Ctx) -> Result<Response, ApiError> {
    events_page(ctx, ctx.user()?).await
}

// GET /auth/users/{id}/events/ (this service's own): 200 | 400 | 401 | 403 | 404
/// A user's security events: one's own, or anyone's for staff.
pub async fn user_events(ctx: &Ctx) -> Result<Response, ApiError> {
    let user = target(ctx, Access::Read).await?;
    events_page(ctx, &user).await
}
