//! The HTTP edge: the per-request context, the order of work every request goes through, and
//! the one place an `ApiError` becomes a response. Handlers (one file per endpoint group) parse,
//! call a flow, and respond.
//!
//! Order of work, as DRF does it: resolve the route, bound the body (413), authenticate (a bad
//! credential is 401 even where anyone may call), check the permission and the method (an
//! anonymous unmapped method on a users route is 401, otherwise 405), then run the handler,
//! which parses the body only when it needs it.

pub mod activation;
pub mod body;
pub mod extract;
pub mod jwt;
pub mod password;
pub mod response;
pub mod routes;
pub mod token;
pub mod username;
pub mod users;

use futures_util::StreamExt;
use worker::{Context, Env, Request, Response};

use crate::config::Settings;
use crate::domain::user::User;
use crate::email::compose::Message;
use crate::email::mailer;
use crate::error::{missing_signing_key, ApiError};
use crate::flows::{authn, Cx};
use crate::storage::d1::Store;
use crate::storage::kv::RefreshStore;
use body::Body;
use extract::Credentials;
use routes::{Auth, Exposure, Matched, Unmapped, Who};

/// Everything a handler needs about one request.
pub struct Ctx {
    /// The deployment's settings.
    pub settings: &'static Settings,
    /// The Worker environment (bindings).
    pub env: Env,
    /// The Worker's execution context, for work after the response.
    worker: Context,
    /// D1, with the KV refresh records behind it.
    pub store: Store,
    /// The authenticated user, if any.
    pub user: Option<User>,
    /// Unix seconds at the start of the request.
    pub now: i64,
    /// The client address (`CF-Connecting-IP`), for throttling.
    pub client_ip: String,
    /// The request URL's origin (scheme, host, port), for the API root.
    pub origin: String,
    /// The route's `{id}` segment.
    pub param: Option<String>,
    content_type: Option<String>,
    raw_body: Vec<u8>,
}

/// Security warnings from the flows go to the Worker log.
fn warn(line: &str) {
    worker::console_warn!("{line}");
}

impl Ctx {
    /// Parses the body (DRF does it lazily, after authentication and permissions).
    pub fn body(&self) -> Result<Body, ApiError> {
        Body::parse(self.content_type.as_deref(), &self.raw_body)
    }

    /// The authenticated user; 401 otherwise.
    pub fn user(&self) -> Result<&User, ApiError> {
        self.user.as_ref().ok_or_else(ApiError::not_authenticated)
    }

    /// The flows' view of this request.
    pub fn flow(&self) -> Cx<'_, Store> {
        Cx {
            settings: self.settings,
            store: &self.store,
            now: self.now,
            client: &self.client_ip,
            warn,
        }
    }

    /// Sends what a flow asked to send, after the response: the answer never waits for the
    /// mail provider, so a known address answers as fast as an unknown one. A failed send is
    /// logged: the state change it reports is already stored, and every e-mail can be asked
    /// for again.
    pub fn send(&self, outbox: Vec<Message>) {
        if outbox.is_empty() {
            return;
        }
        let settings = self.settings;
        let env = self.env.clone();
        self.worker.wait_until(async move {
            for message in outbox {
                if let Err(e) = mailer::deliver(settings, &env, &message).await {
                    worker::console_error!(
                        "e-mail {} to user {} not sent: {e}",
                        message.kind.name(),
                        message.user_id
                    );
                }
            }
        });
    }
}

/// Handles one request from start to end; every `ApiError` becomes a response here.
pub async fn handle(
    mut req: Request,
    env: Env,
    worker: Context,
    settings: &'static Settings,
) -> worker::Result<Response> {
    // worker's Method maps methods it does not know to GET; the raw name keeps PROPFIND a 405.
    let method = req.inner().method().to_ascii_uppercase();
    let origin = req.headers().get("Origin").ok().flatten();
    let path = req.path();
    let matched = routes::resolve(&path);
    let allow = matched.as_ref().map(|m| m.route.allow());
    let exposure = matched
        .as_ref()
        .map_or(Exposure::Private, |m| m.route.exposure);
    let result = match matched {
        Some(matched) => dispatch(&mut req, (env, worker), settings, matched, &method).await,
        None => Err(ApiError::not_found()),
    };
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            if let ApiError::Internal(cause) = &e {
                worker::console_error!("{method} {path}: {cause}");
            }
            response::error(&e, settings)?
        }
    };
    let response = response::finish(
        response,
        allow.as_deref(),
        origin.as_deref(),
        settings,
        exposure,
    )?;
    if method == "HEAD" {
        response::without_body(response)
    } else {
        Ok(response)
    }
}

async fn dispatch(
    req: &mut Request,
    (env, worker): (Env, Context),
    settings: &'static Settings,
    matched: Matched,
    method: &str,
) -> Result<Response, ApiError> {
    let route = matched.route;
    if method == "OPTIONS" {
        if let Some(preflight) = response::preflight(req, route, settings) {
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
    if settings.signing_key.is_none() && !route.needs_no_signing_key() {
        return Err(missing_signing_key());
    }
    let db = env.d1("DB").map_err(ApiError::internal)?;
    let records = env
        .kv("AUTH_KV")
        .map(RefreshStore::new)
        .map_err(|e| e.to_string());
    let url = req.url().map_err(ApiError::internal)?;
    let mut ctx = Ctx {
        settings,
        store: Store::new(db, records),
        user: None,
        now: (worker::Date::now().as_millis() / 1000) as i64,
        client_ip: req
            .headers()
            .get("CF-Connecting-IP")
            .ok()
            .flatten()
            .unwrap_or_else(|| "unknown".into()),
        origin: url.origin().ascii_serialization(),
        param: matched.param,
        content_type: req.headers().get("Content-Type").ok().flatten(),
        raw_body,
        env,
        worker,
    };

    if route.auth == Auth::Header {
        let header = req.headers().get("Authorization").ok().flatten();
        ctx.user = authenticate(&ctx, header.as_deref()).await?;
    }
    let anonymous_first = route.unmapped == Unmapped::AuthenticateFirst && ctx.user.is_none();
    if method == "OPTIONS" {
        if anonymous_first {
            return Err(ApiError::not_authenticated());
        }
        return response::metadata(route);
    }
    let Some(endpoint) = route.endpoint(method) else {
        if anonymous_first {
            return Err(ApiError::not_authenticated());
        }
        return Err(ApiError::MethodNotAllowed(method.to_string()));
    };
    if endpoint.who == Who::User && ctx.user.is_none() {
        return Err(ApiError::not_authenticated());
    }
    (endpoint.handler)(&ctx).await
}

/// How much of an oversized streamed body is read (and thrown away) before giving up on it: past
/// the limit nothing is kept, but draining a little more lets the client finish its upload and
/// read the 413 (many clients fail a request whose upload is cut off).
const MAX_DRAIN_BYTES: usize = 16 << 20;

/// Reads the body, refusing one over `limit` bytes (413): by its declared length before reading,
/// and, for a body without one (chunked), by keeping no byte past the limit while the stream
/// runs, so memory stays bounded whatever the client sends.
async fn read_body(req: &mut Request, limit: usize) -> Result<Vec<u8>, ApiError> {
    if extract::declared_length(req).is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let unreadable = |_| ApiError::Parse("could not read body".into());
    let mut stream = match req.stream() {
        Ok(stream) => stream,
        // No body at all.
        Err(_) => return Ok(Vec::new()),
    };
    let mut body = Vec::new();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(unreadable)?;
        seen = seen.saturating_add(chunk.len());
        if seen > limit {
            body = Vec::new();
            if seen > MAX_DRAIN_BYTES {
                break;
            }
            continue;
        }
        body.extend_from_slice(&chunk);
    }
    if seen > limit {
        return Err(ApiError::PayloadTooLarge);
    }
    Ok(body)
}

/// Resolves the Authorization header to a user (JWT first, then DRF token), or anonymous.
async fn authenticate(ctx: &Ctx, header: Option<&str>) -> Result<Option<User>, ApiError> {
    let cx = ctx.flow();
    match extract::parse_authorization(header, &ctx.settings.auth_header_types)? {
        Credentials::None => Ok(None),
        Credentials::Jwt(token) => Ok(Some(authn::user_for_access_token(&cx, &token).await?)),
        Credentials::Token(key) => Ok(Some(authn::user_for_token_key(&cx, &key).await?)),
    }
}
