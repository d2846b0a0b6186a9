//! Sessions (devices) at the edge: `sessions/` for the caller, `users/{id}/sessions/` for staff.

use serde_json::json;
use worker::Response;

use crate::domain::user::User;
use crate::error::ApiError;
use crate::flows::account::{self, Access};
use crate::flows::sessions::{self, Listed};
use crate::http::{response, Ctx};

/// A listed session as JSON.
fn session_json(listed: &Listed) -> serde_json::Value {
    let r = &listed.record;
    json!({
        "id": r.id,
        "kind": r.kind,
        "created": r.created,
        "last_refreshed": r.refreshed,
        "expires": (r.expires > 0).then_some(r.expires),
        "user_agent": r.user_agent,
        "ip": r.ip,
        "country": r.country,
        "city": r.city,
        "colo": r.colo,
        "current": listed.current,
    })
}

async fn listing(ctx: &Ctx, user: &User) -> Result<Response, ApiError> {
    let current = ctx
        .session
        .as_deref()
        .filter(|_| ctx.user.as_ref() == Some(user));
    let listed = sessions::list(&ctx.flow(), user, current).await?;
    let body: Vec<_> = listed.iter().map(session_json).collect();
    response::ok(&body)
}

/// The `users/{id}/` user, if the caller may manage its sessions (its own, or staff).
async fn target(ctx: &Ctx, access: Access) -> Result<User, ApiError> {
    let id = ctx.param.as_deref().unwrap_or_default();
    Ok(account::target(&ctx.flow(), ctx.user()?, id, access).await?)
}

// GET /auth/sessions/ (this service's own): 200 [session…] newest first | 401
/// The caller's live sessions; the one this request uses is `"current": true`.
pub async fn list(ctx: &Ctx) -> Result<Response, ApiError> {
    listing(ctx, ctx.user()?).await
}

// DELETE /auth/sessions/{id}/ (this service's own): 204 | 401 | 404
/// Ends one of the caller's sessions: its refresh and access tokens stop working at once.
pub async fn end(ctx: &Ctx) -> Result<Response, ApiError> {
    let id = ctx.param.as_deref().unwrap_or_default();
    sessions::end(&ctx.flow(), ctx.user()?, id).await?;
    response::no_content()
}

// POST /auth/sessions/revoke_others/ (this service's own): 204 | 401
/// Ends every listed session of the caller but the one this request uses.
pub async fn revoke_others(ctx: &Ctx) -> Result<Response, ApiError> {
    sessions::end_others(&ctx.flow(), ctx.user()?, ctx.session.as_deref()).await?;
    response::no_content()
}

// POST /auth/sessions/revoke_all/ (this service's own): 204 | 401
/// Ends every session of the caller, this one included.
pub async fn revoke_all(ctx: &Ctx) -> Result<Response, ApiError> {
    sessions::end_all(&ctx.flow(), ctx.user()?).await?;
    response::no_content()
}

// GET /auth/users/{id}/sessions/ (this service's own): 200 | 401 | 403 | 404
/// A user's sessions: one's own, or anyone's for staff.
pub async fn user_list(ctx: &Ctx) -> Result<Response, ApiError> {
    let user = target(ctx, Access::Read).await?;
    listing(ctx, &user).await
}

// DELETE /auth/users/{id}/sessions/{sid}/ (this service's own): 204 | 401 | 403 | 404
/// Ends one of a user's sessions (staff, or one's own).
pub async fn user_end(ctx: &Ctx) -> Result<Response, ApiError> {
    let user = target(ctx, Access::Write).await?;
    let sid = ctx.param2.as_deref().unwrap_or_default();
    sessions::end(&ctx.flow(), &user, sid).await?;
    response::no_content()
}

// POST /auth/users/{id}/sessions/revoke_all/ (this service's own): 204 | 401 | 403 | 404
/// Ends every session of a user (staff, or one's own).
pub async fn user_revoke_all(ctx: &Ctx) -> Result<Response, ApiError> {
    let user = target(ctx, Access::Write).await?;
    sessions::end_all(&ctx.flow(), &user).await?;
    response::no_content()
}
