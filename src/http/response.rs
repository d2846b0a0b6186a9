//! Response building: JSON bodies, 204s, the headers every answer carries, CORS and OPTIONS.

use serde::Serialize;
use serde_json::json;
use worker::{Headers, Request, Response};

use crate::config::Settings;
use crate::error::ApiError;
use crate::http::Route;

fn bytes_response(status: u16, body: Vec<u8>) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    Ok(Response::from_bytes(body)?
        .with_status(status)
        .with_headers(headers))
}

/// A compact JSON response (DRF renders without spaces and with raw UTF-8).
pub fn json<T: Serialize>(status: u16, value: &T) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
    bytes_response(status, body).map_err(ApiError::internal)
}

/// 204 with no body and no Content-Type.
pub fn no_content() -> Result<Response, ApiError> {
    Response::empty()
        .map(|r| r.with_status(204))
        .map_err(ApiError::internal)
}

/// The response for an error, with its challenge or retry headers.
pub fn error(e: &ApiError, settings: &Settings) -> worker::Result<Response> {
    let body = serde_json::to_vec(&e.body())?;
    let response = bytes_response(e.status(), body)?;
    let headers = response.headers();
    if e.status() == 401 {
        headers.set(
            "WWW-Authenticate",
            &format!("{} realm=\"api\"", settings.challenge_word()),
        )?;
    }
    if let ApiError::Throttled { wait } = e {
        headers.set("Retry-After", &wait.to_string())?;
    }
    Ok(response)
}

fn origin_allowed<'a>(origin: Option<&'a str>, settings: &Settings) -> Option<&'a str> {
    let origin = origin?;
    settings
        .cors_allowed_origins
        .iter()
        .any(|o| o == "*" || o == origin)
        .then_some(origin)
}

/// Adds the headers every response carries: Allow, Vary, security headers, no caching, CORS.
pub fn finish(
    response: Response,
    allow: Option<&str>,
    origin: Option<&str>,
    settings: &Settings,
) -> worker::Result<Response> {
    let headers = response.headers();
    if let Some(allow) = allow {
        let _ = headers.set("Allow", allow);
    }
    let _ = headers.set("Vary", "Accept, Origin");
    let _ = headers.set("X-Content-Type-Options", "nosniff");
    let _ = headers.set("X-Frame-Options", "DENY");
    let _ = headers.set("Referrer-Policy", "same-origin");
    let _ = headers.set("Cross-Origin-Opener-Policy", "same-origin");
    let _ = headers.set("Cache-Control", "no-store");
    if let Some(origin) = origin_allowed(origin, settings) {
        let _ = headers.set("Access-Control-Allow-Origin", origin);
        let _ = headers.set(
            "Access-Control-Expose-Headers",
            "Retry-After, WWW-Authenticate",
        );
    }
    Ok(response)
}

/// The same response without its body (HEAD).
pub fn without_body(response: Response) -> worker::Result<Response> {
    let status = response.status_code();
    let headers = response.headers().clone();
    Ok(Response::empty()?.with_status(status).with_headers(headers))
}

/// A CORS preflight from an allowed origin gets 204 with the CORS grant; anything else is `None`
/// and is answered as an ordinary OPTIONS request (no grant for unlisted origins).
pub fn preflight(req: &Request, settings: &Settings) -> Option<Response> {
    let headers = req.headers();
    let origin = headers.get("Origin").ok().flatten();
    let asked = headers
        .get("Access-Control-Request-Method")
        .ok()
        .flatten()?;
    let origin = origin_allowed(origin.as_deref(), settings)?;
    let response = Response::empty().ok()?.with_status(204);
    let out = response.headers();
    let _ = out.set("Access-Control-Allow-Origin", origin);
    let _ = out.set(
        "Access-Control-Allow-Methods",
        "GET, POST, PUT, PATCH, DELETE, OPTIONS",
    );
    let _ = out.set(
        "Access-Control-Allow-Headers",
        "Authorization, Content-Type",
    );
    let _ = out.set("Access-Control-Max-Age", "86400");
    let _ = asked;
    Some(response)
}

/// DRF's OPTIONS metadata (name, description, renders, parses).
pub fn metadata(route: &Route) -> Result<Response, ApiError> {
    let (name, description) = match route {
        Route::Root => ("Api Root", "The default basic root view for DefaultRouter"),
        Route::JwtCreate => (
            "Token Obtain Pair",
            "Takes a set of user credentials and returns an access and refresh JSON web token pair to prove the authentication of those credentials.",
        ),
        Route::JwtRefresh => (
            "Token Refresh",
            "Takes a refresh type JSON web token and returns an access type JSON web token if the refresh token is valid.",
        ),
        Route::JwtVerify => (
            "Token Verify",
            "Takes a token and indicates if it is valid.  This view provides no information about a token's fitness for a particular use.",
        ),
        Route::JwtBlacklist => (
            "Token Blacklist",
            "Takes a token and blacklists it. Must be used with the `rest_framework_simplejwt.token_blacklist` app installed.",
        ),
        Route::TokenLogin => ("Token Create", "Use this endpoint to obtain user authentication token."),
        Route::TokenLogout => ("Token Destroy", "Use this endpoint to logout user (remove user authentication token)."),
        _ => ("User", ""),
    };
    json(
        200,
        &json!({
            "name": name,
            "description": description,
            "renders": ["application/json"],
            "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"],
        }),
    )
}
