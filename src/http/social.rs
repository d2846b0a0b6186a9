//! djoser.social's `o/{provider}/` at the edge: parse → flow → respond, and the outbound calls to
//! providers through the Worker's `fetch`, each with a timeout. The client secret goes only into
//! the form posted to the token endpoint; nothing here logs a request body.

use std::time::Duration;

use futures_util::future::{select, Either};
use serde_json::json;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, Response};

use crate::error::ApiError;
use crate::flows::session::SignIn;
use crate::flows::social::{
    self, form_encode, Cache, HttpAnswer, NetError, Outbound, MAX_ANSWER_BYTES,
};
use crate::http::{cookies, extract, jwt, response, Ctx};
use crate::storage::kv::ProviderCache;

/// How long one call to a provider may take.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// The Worker's `fetch`, with provider documents kept briefly in KV (when the binding is there).
pub struct WorkerNet {
    cache: Option<ProviderCache>,
}

impl WorkerNet {
    fn new(ctx: &Ctx) -> Self {
        WorkerNet {
            cache: ctx.env.kv("AUTH_KV").ok().map(ProviderCache::new),
        }
    }
}

async fn send(request: Request) -> Result<HttpAnswer, NetError> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(request);
    let call = Box::pin(fetch.send_with_signal(&signal));
    let timer = Box::pin(Delay::from(PROVIDER_TIMEOUT));
    let mut answer = match select(call, timer).await {
        Either::Left((Ok(answer), _)) => answer,
        Either::Left((Err(e), _)) => return Err(NetError::Unreachable(e.to_string())),
        Either::Right(((), _)) => {
            controller.abort();
            return Err(NetError::Timeout);
        }
    };
    let status = answer.status_code();
    let bytes = answer
        .bytes()
        .await
        .map_err(|e| NetError::Unreachable(e.to_string()))?;
    if bytes.len() > MAX_ANSWER_BYTES {
        return Err(NetError::Unreachable(format!(
            "answer of {} bytes",
            bytes.len()
        )));
    }
    Ok(HttpAnswer {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

fn request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> Result<Request, NetError> {
    let all = Headers::new();
    for (name, value) in headers {
        all.set(name, value)
            .map_err(|e| NetError::Unreachable(e.to_string()))?;
    }
    if body.is_some() {
        all.set("Content-Type", "application/x-www-form-urlencoded")
            .map_err(|e| NetError::Unreachable(e.to_string()))?;
    }
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(all);
    if let Some(body) = body {
        init.with_body(Some(body.into()));
    }
    Request::new_with_init(url, &init).map_err(|e| NetError::Unreachable(e.to_string()))
}

impl Outbound for WorkerNet {
    async fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        cache: Cache,
    ) -> Result<HttpAnswer, NetError> {
        let kept = match (&self.cache, cache) {
            (Some(kept), Cache::Allow | Cache::Refresh) => Some(kept),
            _ => None,
        };
        if let (Some(kept), Cache::Allow) = (kept, cache) {
            if let Some(body) = kept.get(url).await {
                return Ok(HttpAnswer { status: 200, body });
            }
        }
        let answer = send(request(Method::Get, url, headers, None)?).await?;
        if let Some(kept) = kept.filter(|_| answer.status == 200) {
            kept.put(url, &answer.body).await;
        }
        Ok(answer)
    }

    async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Result<HttpAnswer, NetError> {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        send(request(Method::Post, url, headers, Some(body))?).await
    }
}

/// A query parameter's first value.
fn query<'a>(ctx: &'a Ctx, name: &str) -> Option<&'a str> {
    ctx.query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn provider_name(ctx: &Ctx) -> Result<&str, ApiError> {
    ctx.param
        .as_deref()
        .ok_or_else(|| ApiError::internal("o/{provider} without its segment"))
}

// GET /auth/o/{provider}/?redirect_uri=…: 200 {authorization_url} | 400 (bare string) | 404
/// The provider's authorization URL of a new sign-in (state, PKCE challenge, nonce).
pub async fn authorization_url(ctx: &Ctx) -> Result<Response, ApiError> {
    let provider = provider_name(ctx)?;
    let url = social::begin(
        &ctx.flow(),
        &WorkerNet::new(ctx),
        provider,
        query(ctx, "redirect_uri"),
    )
    .await?;
    response::ok(&json!({ "authorization_url": url }))
}

// POST /auth/o/{provider}/?code=…&state=…: 201 {access, refresh, user} | 200 (second factor) |
// 400 | 404
/// Completes a sign-in with the provider's `code` and `state` (query string, or the body).
pub async fn complete(ctx: &Ctx) -> Result<Response, ApiError> {
    let provider = provider_name(ctx)?;
    let body = ctx.body()?;
    let from_body = |name: &str| extract::optional(&body, name).ok().flatten();
    let code = query(ctx, "code")
        .map(str::to_string)
        .or_else(|| from_body("code"));
    let state = query(ctx, "state")
        .map(str::to_string)
        .or_else(|| from_body("state"));
    match social::complete(
        &ctx.flow(),
        &WorkerNet::new(ctx),
        provider,
        code.as_deref(),
        state.as_deref(),
    )
    .await?
    {
        SignIn::Open(done) => {
            let Some(mode) = ctx.settings.cookies.as_ref() else {
                return response::created(&json!({
                    "access": done.tokens.access,
                    "refresh": done.tokens.refresh,
                    "user": done.user,
                }));
            };
            // Cookie mode: the cookies of jwt/create, and its body rules for `refresh`.
            let csrf = cookies::new_csrf_token()?;
            let body = json!({
                "access": done.tokens.access,
                "refresh": jwt::body_refresh(mode, &done.tokens.refresh),
                "user": done.user,
            });
            let set = cookies::signed_in(
                ctx.settings,
                mode,
                &done.tokens.access,
                Some(&done.tokens.refresh),
                &csrf,
            );
            response::with_cookies(response::created(&body)?, &set, Some(&csrf))
        }
        SignIn::SecondFactor(token) => jwt::second_factor_due(&token),
    }
}
