//! The HTTP edge: the per-request context, the order of work every request goes through, and
//! the one place an `ApiError` becomes a response. Handlers (one file per endpoint group) parse,
//! call a flow, and respond.
//!
//! Order of work, as DRF does it: resolve the route, bound the body (413), authenticate (a bad
//! credential is 401 even where anyone may call), check the permission and the method (an
//! anonymous unmapped method on a users route is 401, otherwise 405), then run the handler,
//! which parses the body only when it needs it. In cookie mode the access cookie stands in for
//! a missing Authorization header, after the CSRF rules (`cookies.rs`).

pub mod activation;
pub mod body;
pub mod cookies;
pub mod extract;
pub mod jwt;
pub mod mfa;
pub mod password;
pub mod response;
pub mod routes;
pub mod schema;
pub mod sessions;
pub mod social;
pub mod token;
pub mod username;
pub mod users;
pub mod webauthn;

use futures_util::StreamExt;
use serde_json::json;
use worker::{Context, Env, Headers, Request, Response};

use crate::config::Settings;
use crate::domain::event::{
    webhook_body, webhook_signature, Event, EventKind, Events, WEBHOOK_SIGNATURE_HEADER,
};
use crate::domain::user::User;
use crate::email::compose::Message;
use crate::email::mailer;
use crate::error::{missing_signing_key, ApiError};
use crate::flows::sessions::token_session_id;
use crate::flows::{authn, coarse_ip, Cx, RequestMeta, MAX_USER_AGENT_CHARS};
use crate::log;
use crate::storage::d1::Store;
use crate::storage::kv::RefreshStore;
use crate::storage::EventStore;
use body::Body;
use cookies::{AccessFrom, CsrfRequest};
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
    /// The route's `{sid}` segment.
    pub param2: Option<String>,
    /// The URL's query parameters, in order.
    pub query: Vec<(String, String)>,
    /// The caller as the event log and the session index keep it.
    meta: ClientInfo,
    /// The session the request was authenticated with (a token family, or the DRF token's).
    pub session: Option<String>,
    /// The events the flows record, written after the answer.
    events: Events,
    /// The request method, upper case.
    pub method: String,
    content_type: Option<String>,
    headers: Headers,
    raw_body: Vec<u8>,
}

/// What the event log and the session index keep of the caller (owned; the flows borrow it).
struct ClientInfo {
    ip: String,
    user_agent: String,
    country: Option<String>,
    city: Option<String>,
    colo: Option<String>,
}

/// Security warnings from the flows go to the Worker log.
fn warn(line: &str) {
    log::warn("flow_warning", json!({ "message": line }));
}

impl Ctx {
    /// Parses the body (DRF does it lazily, after authentication and permissions).
    pub fn body(&self) -> Result<Body, ApiError> {
        Body::parse(self.content_type.as_deref(), &self.raw_body)
    }

    /// A request header's value, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).ok().flatten()
    }

    /// The value of cookie `name` (only ever read in cookie mode).
    pub fn cookie(&self, name: &str) -> Option<String> {
        let header = self.header("Cookie");
        cookies::read(header.as_deref(), name).map(str::to_string)
    }

    /// The CSRF rules of cookie mode for a request a cookie authenticates (`cookies::check`):
    /// 403 `CSRF Failed: …` unless the method is safe, the origin is trusted and, with
    /// JWT_AUTH_COOKIE_USE_CSRF, `X-CSRFToken` matches the `csrftoken` cookie.
    pub fn check_csrf(&self) -> Result<(), ApiError> {
        let Some(mode) = self.settings.cookies.as_ref() else {
            return Ok(());
        };
        if !cookies::is_unsafe(&self.method) {
            return Ok(());
        }
        let origin = self.header("Origin");
        let fetch_site = self.header("Sec-Fetch-Site");
        let cookie = self.cookie(cookies::CSRF_COOKIE);
        let header = self.header(cookies::CSRF_HEADER);
        cookies::check(&CsrfRequest {
            origin: origin.as_deref(),
            fetch_site: fetch_site.as_deref(),
            own_origin: &self.origin,
            trusted: &self.settings.cors_allowed_origins,
            cookie: cookie.as_deref(),
            header: header.as_deref(),
            use_token: mode.use_csrf,
        })
        .map_err(|reason| ApiError::csrf_failed(&reason))
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
            meta: RequestMeta {
                ip: &self.meta.ip,
                user_agent: &self.meta.user_agent,
                country: self.meta.country.as_deref(),
                city: self.meta.city.as_deref(),
                colo: self.meta.colo.as_deref(),
            },
            events: &self.events,
        }
    }

    /// Writes the events the flows recorded, after the response (the log is append-only and
    /// never decides anything, so it need not hold the answer back), then hands the ones
    /// written to EVENTS_WEBHOOK_URL when it is set. A failed write or delivery is logged.
    fn write_events(&self) {
        let events = self.events.take();
        if events.is_empty() {
            return;
        }
        // Each security event is also a log line named after its kind, so the ones to watch
        // (refresh_reuse_detected, login_failed) can be searched and alerted on without D1.
        for event in &events {
            let level = match event.kind {
                EventKind::RefreshReuseDetected => log::Level::Warn,
                _ => log::Level::Info,
            };
            log::emit(
                level,
                event.kind.name(),
                json!({ "user_id": event.user_id, "country": event.country }),
            );
        }
        let settings = self.settings;
        let env = self.env.clone();
        self.worker.wait_until(async move {
            let written = match env.d1("DB") {
                Ok(db) => Store::new(db, Err("not needed".into()))
                    .insert_events(&events)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match written {
                Err(e) => log::error(
                    "events_not_written",
                    json!({ "count": events.len(), "error": e }),
                ),
                Ok(written) => {
                    if let (Some(url), Some(secret)) = (
                        settings.events_webhook_url.as_deref(),
                        settings.events_webhook_secret.as_deref(),
                    ) {
                        let deliveries = written
                            .iter()
                            .map(|event| deliver_event(url, secret.as_bytes(), event));
                        for (event, result) in written
                            .iter()
                            .zip(futures_util::future::join_all(deliveries).await)
                        {
                            if let Err(e) = result {
                                log::error(
                                    "event_webhook_failed",
                                    json!({
                                        "event_id": event.id,
                                        "kind": event.kind.name(),
                                        "error": e.to_string(),
                                    }),
                                );
                            }
                        }
                    }
                }
            }
        });
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
            // All at once: one slow message does not hold back the next.
            let sends = outbox.iter().map(|message| async {
                if let Err(e) = mailer::deliver(settings, &env, message).await {
                    log::error(
                        "email_failed",
                        json!({
                            "message": format!(
                                "e-mail {} to user {} not sent",
                                message.kind.name(),
                                message.user_id
                            ),
                            "kind": message.kind.name(),
                            "user_id": message.user_id,
                            "error": e,
                        }),
                    );
                }
            });
            futures_util::future::join_all(sends).await;
        });
    }
}

/// Handles one request from start to end; every `ApiError` becomes a response here, and every
/// request ends with one `request` log line.
pub async fn handle(
    mut req: Request,
    env: Env,
    worker: Context,
    settings: &'static Settings,
) -> worker::Result<Response> {
    let started = worker::Date::now().as_millis();
    // worker's Method maps methods it does not know to GET; the raw name keeps PROPFIND a 405.
    let method = req.inner().method().to_ascii_uppercase();
    let origin = req.headers().get("Origin").ok().flatten();
    let request_id = req.headers().get("cf-ray").ok().flatten();
    let matched = routes::resolve(&req.path());
    let route = matched.as_ref().map(Matched::log_route);
    let allow = matched.as_ref().map(|m| m.route.allow());
    let exposure = matched
        .as_ref()
        .map_or(Exposure::Private, |m| m.route.exposure);
    let mut user_id = None;
    let result = match matched {
        Some(matched) => {
            let io = (env, worker);
            dispatch(&mut req, io, settings, matched, &method, &mut user_id).await
        }
        None => Err(ApiError::not_found()),
    };
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            match &e {
                ApiError::Internal(cause) => log::error(
                    "internal_error",
                    json!({ "request_id": request_id, "method": method, "route": route,
                            "cause": cause }),
                ),
                ApiError::Config(problem) => log::error(
                    "config_invalid",
                    json!({ "request_id": request_id, "route": route, "problems": [problem] }),
                ),
                ApiError::Throttled { wait } => log::warn(
                    "throttled",
                    json!({ "request_id": request_id, "method": method, "route": route,
                            "user_id": user_id, "retry_after": wait }),
                ),
                _ => {}
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
    let status = response.status_code();
    log::emit(
        if status >= 500 {
            log::Level::Error
        } else {
            log::Level::Info
        },
        "request",
        json!({
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": worker::Date::now().as_millis().saturating_sub(started),
            "user_id": user_id,
        }),
    );
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
    user_id: &mut Option<i64>,
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
    let client_ip = req
        .headers()
        .get("CF-Connecting-IP")
        .ok()
        .flatten()
        .unwrap_or_else(|| "unknown".into());
    let mut ctx = Ctx {
        settings,
        store: Store::new(db, records),
        user: None,
        now: (worker::Date::now().as_millis() / 1000) as i64,
        client_ip: client_ip.clone(),
        origin: url.origin().ascii_serialization(),
        param: matched.param,
        param2: matched.param2,
        query: url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        meta: ClientInfo {
            ip: coarse_ip(&client_ip),
            user_agent: req
                .headers()
                .get("User-Agent")
                .ok()
                .flatten()
                .unwrap_or_default()
                .chars()
                .take(MAX_USER_AGENT_CHARS)
                .collect(),
            country: req.cf().and_then(|cf| cf.country()),
            city: req.cf().and_then(|cf| cf.city()),
            colo: req.cf().map(|cf| cf.colo()),
        },
        session: None,
        events: Events::default(),
        method: method.to_string(),
        content_type: req.headers().get("Content-Type").ok().flatten(),
        headers: req.headers().clone(),
        raw_body,
        env,
        worker,
    };

    if route.auth == Auth::Header {
        let header = ctx.header("Authorization");
        let cookie_header = ctx.header("Cookie");
        let found = match cookies::access_from(
            header.as_deref(),
            cookie_header.as_deref(),
            settings.cookies.as_ref(),
        ) {
            AccessFrom::Header(header) => authenticate(&ctx, header).await?,
            // A cookie rides along on every request, forged ones too: prove intent first.
            AccessFrom::Cookie(token) => {
                ctx.check_csrf()?;
                let (user, session) = authn::access_token_session(&ctx.flow(), token).await?;
                Some((user, session))
            }
        };
        if let Some((user, session)) = found {
            *user_id = Some(user.id);
            ctx.user = Some(user);
            ctx.session = session;
        }
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
    let answer = (endpoint.handler)(&ctx).await;
    ctx.write_events();
    answer
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

/// Resolves the Authorization header to a user and its session (JWT first, then DRF token), or
/// anonymous.
async fn authenticate(
    ctx: &Ctx,
    header: Option<&str>,
) -> Result<Option<(User, Option<String>)>, ApiError> {
    let cx = ctx.flow();
    match extract::parse_authorization(header, &ctx.settings.auth_header_types)? {
        Credentials::None => Ok(None),
        Credentials::Jwt(token) => Ok(Some(authn::access_token_session(&cx, &token).await?)),
        Credentials::Token(key) => {
            let user = authn::user_for_token_key(&cx, &key).await?;
            Ok(Some((user, Some(token_session_id(&key)))))
        }
    }
}

/// POSTs one stored event to the events webhook, signed (see [`webhook_signature`]); one
/// attempt, a non-2xx answer is an error.
async fn deliver_event(url: &str, secret: &[u8], event: &Event) -> worker::Result<()> {
    let body = webhook_body(event);
    let now = (worker::Date::now().as_millis() / 1000) as i64;
    let signature = webhook_signature(secret, now, &body);
    let status = mailer::post_once(url, &body, &[(WEBHOOK_SIGNATURE_HEADER, &signature)]).await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(worker::Error::RustError(format!("answered {status}")))
    }
}
