//! Response building: JSON bodies, 204s, the headers every answer carries, CORS and OPTIONS.

use serde::Serialize;
use serde_json::json;
use worker::{Headers, Request, Response};

use crate::config::Settings;
use crate::error::ApiError;
use crate::http::cookies::CSRF_HEADER;
use crate::http::routes::{Exposure, RouteDef, PUBLIC_MAX_AGE};

fn bytes_response(status: u16, body: Vec<u8>) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    Ok(Response::from_bytes(body)?
        .with_status(status)
        .with_headers(headers))
}

/// A compact JSON response (DRF renders without spaces and with raw UTF-8).
fn json<T: Serialize>(status: u16, value: &T) -> Result<Response, ApiError> {
    let body = serde_json::to_vec(value).map_err(ApiError::internal)?;
    bytes_response(status, body).map_err(ApiError::internal)
}

/// 200 with a JSON body.
pub fn ok<T: Serialize>(value: &T) -> Result<Response, ApiError> {
    json(200, value)
}

/// 201 with a JSON body.
pub fn created<T: Serialize>(value: &T) -> Result<Response, ApiError> {
    json(201, value)
}

/// 204 with no body and no Content-Type.
pub fn no_content() -> Result<Response, ApiError> {
    Response::empty()
        .map(|r| r.with_status(204))
        .map_err(ApiError::internal)
}

/// The response for an error, with its challenge or retry headers.
pub fn error(e: &ApiError, settings: &Settings) -> worker::Result<Response> {
    if let ApiError::EmptyBadRequest = e {
        return Ok(Response::empty()?.with_status(e.status()));
    }
    // A configuration error names keys and values: the log always has it (`config_invalid`),
    // a client only on a DEBUG (local) Worker; anyone else gets the opaque 500.
    let shown = match e {
        ApiError::Config(_) if !settings.debug => &ApiError::Internal(String::new()),
        other => other,
    };
    let body = serde_json::to_vec(&shown.body())?;
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

/// The request's `Origin` when CORS_ALLOWED_ORIGINS lists it exactly (scheme, host and port, no
/// trailing slash) or lists `*`; look-alikes such as a suffix or another scheme get nothing.
fn origin_allowed<'a>(origin: Option<&'a str>, settings: &Settings) -> Option<&'a str> {
    let origin = origin?;
    settings
        .cors_allowed_origins
        .iter()
        .any(|o| o == "*" || o == origin)
        .then_some(origin)
}

/// The security headers every answer carries, errors and 204s included. The first four are the
/// ones Django's middleware sends; the CSP forbids a browser to run or frame anything it might be
/// tricked into rendering from this API.
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    (
        "Content-Security-Policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
];

/// Adds the headers every response carries: Allow, Vary, security headers, no caching, CORS.
///
/// The exceptions are a successful answer of a [`Exposure::Public`] route (the JWK Set, the
/// OpenAPI document): public data, cacheable for [`PUBLIC_MAX_AGE`] seconds and readable from any
/// origin; and a successful [`Exposure::Page`] answer, which keeps the page's own CSP.
pub fn finish(
    response: Response,
    allow: Option<&str>,
    origin: Option<&str>,
    settings: &Settings,
    exposure: Exposure,
) -> worker::Result<Response> {
    if exposure == Exposure::Public && response.status_code() == 200 {
        return finish_public(response, allow);
    }
    let headers = response.headers();
    if let Some(allow) = allow {
        let _ = headers.set("Allow", allow);
    }
    let _ = headers.set("Vary", "Accept, Origin");
    for (name, value) in SECURITY_HEADERS {
        // A page's own policy (the docs page's, set by its handler) stands; errors get the API's.
        let own_policy = exposure == Exposure::Page
            && name == "Content-Security-Policy"
            && response.status_code() == 200
            && headers.has(name).unwrap_or(false);
        if !own_policy {
            let _ = headers.set(name, value);
        }
    }
    // Tokens, user data and errors alike: nothing here may sit in a shared or browser cache.
    let _ = headers.set("Cache-Control", "no-store");
    if let Some(origin) = origin_allowed(origin, settings) {
        let _ = headers.set("Access-Control-Allow-Origin", origin);
        if settings.cookies.is_some() {
            // Only ever with an exact origin: cookie mode refuses `*` in CORS_ALLOWED_ORIGINS.
            let _ = headers.set("Access-Control-Allow-Credentials", "true");
            let _ = headers.set(
                "Access-Control-Expose-Headers",
                "Retry-After, WWW-Authenticate, X-CSRFToken",
            );
        } else {
            let _ = headers.set(
                "Access-Control-Expose-Headers",
                "Retry-After, WWW-Authenticate",
            );
        }
    }
    Ok(response)
}

/// Adds `Set-Cookie` lines and, at sign-in and refresh, the CSRF token in `X-CSRFToken` (a
/// frontend on another host cannot read the API's `csrftoken` cookie).
pub fn with_cookies(
    response: Response,
    cookies: &[String],
    csrf: Option<&str>,
) -> Result<Response, ApiError> {
    let headers = response.headers();
    for cookie in cookies {
        headers
            .append("Set-Cookie", cookie)
            .map_err(ApiError::internal)?;
    }
    if let Some(token) = csrf {
        headers
            .set(CSRF_HEADER, token)
            .map_err(ApiError::internal)?;
    }
    Ok(response)
}

/// The headers of a public answer: the security headers, a shared cache lifetime, any origin.
fn finish_public(response: Response, allow: Option<&str>) -> worker::Result<Response> {
    let headers = response.headers();
    if let Some(allow) = allow {
        let _ = headers.set("Allow", allow);
    }
    let _ = headers.set("Vary", "Accept");
    for (name, value) in SECURITY_HEADERS {
        let _ = headers.set(name, value);
    }
    let _ = headers.set(
        "Cache-Control",
        &format!("public, max-age={PUBLIC_MAX_AGE}"),
    );
    let _ = headers.set("Access-Control-Allow-Origin", "*");
    Ok(response)
}

/// The same response without its body (HEAD).
pub fn without_body(response: Response) -> worker::Result<Response> {
    let status = response.status_code();
    let headers = response.headers().clone();
    Ok(Response::empty()?.with_status(status).with_headers(headers))
}

/// The request headers a cross-origin caller may send: what djoser clients use.
const CORS_ALLOWED_HEADERS: &str = "Accept, Authorization, Content-Type";
/// The same in cookie mode, with the CSRF header.
const CORS_ALLOWED_HEADERS_COOKIES: &str = "Accept, Authorization, Content-Type, X-CSRFToken";

/// A CORS preflight (OPTIONS with `Origin` and `Access-Control-Request-Method`) from a listed
/// origin gets 204 with the grant: the route's own methods and the headers clients need. Anything
/// else is `None` and is answered as an ordinary OPTIONS request, which carries no grant, so a
/// browser refuses the cross-origin call for an unlisted origin or an unknown path.
pub fn preflight(req: &Request, route: &RouteDef, settings: &Settings) -> Option<Response> {
    let headers = req.headers();
    headers
        .get("Access-Control-Request-Method")
        .ok()
        .flatten()?;
    let origin = headers.get("Origin").ok().flatten();
    let origin = origin_allowed(origin.as_deref(), settings)?;
    let response = Response::empty().ok()?.with_status(204);
    let out = response.headers();
    out.set("Access-Control-Allow-Origin", origin).ok()?;
    out.set("Access-Control-Allow-Methods", &route.allow())
        .ok()?;
    let allowed_headers = if settings.cookies.is_some() {
        out.set("Access-Control-Allow-Credentials", "true").ok()?;
        CORS_ALLOWED_HEADERS_COOKIES
    } else {
        CORS_ALLOWED_HEADERS
    };
    out.set("Access-Control-Allow-Headers", allowed_headers)
        .ok()?;
    out.set("Access-Control-Max-Age", "86400").ok()?;
    Some(response)
}

/// DRF's OPTIONS metadata (name, description, renders, parses).
pub fn metadata(route: &RouteDef) -> Result<Response, ApiError> {
    ok(&json!({
        "name": route.name,
        "description": route.description,
        "renders": ["application/json"],
        "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_origins(origins: &[&str]) -> Settings {
        Settings {
            cors_allowed_origins: origins.iter().map(|o| o.to_string()).collect(),
            ..Settings::default()
        }
    }

    #[test]
    fn only_listed_origins_are_granted_and_only_exactly() {
        let s = with_origins(&["https://app.example.com"]);
        assert_eq!(
            origin_allowed(Some("https://app.example.com"), &s),
            Some("https://app.example.com")
        );
        for other in [
            "http://app.example.com",
            "https://app.example.com.evil.test",
            "https://evil-app.example.com",
            "https://app.example.com:8443",
            "https://app.example.com/",
            "null",
            "",
        ] {
            assert_eq!(origin_allowed(Some(other), &s), None, "{other}");
        }
        assert_eq!(origin_allowed(None, &s), None);
    }

    #[test]
    fn no_origin_is_granted_by_default() {
        let s = Settings::default();
        assert_eq!(origin_allowed(Some("https://app.example.com"), &s), None);
    }

    #[test]
    fn a_wildcard_grants_the_asking_origin() {
        let s = with_origins(&["*"]);
        assert_eq!(
            origin_allowed(Some("https://x.test"), &s),
            Some("https://x.test")
        );
    }
}
