//! Browser cookie mode (dj-rest-auth's `JWT_AUTH_*` settings), the pure part: reading the
//! `Cookie` header, choosing between the Authorization header and the access cookie, building
//! `Set-Cookie` values, and the CSRF rules (an origin check, then a double-submit token).
//!
//! Nothing here imports `worker::`, so every rule is tested on the host; `http/mod.rs` and
//! `http/jwt.rs` hold the header glue. With cookie mode off (`Settings::cookies` is `None`) no
//! cookie is ever read or set.

use subtle::ConstantTimeEq;

use crate::config::{CookieSettings, Settings};
use crate::flows::{random, FlowError};
use crate::messages as msg;
use crate::tokens::auth_token::hex;

/// The readable double-submit cookie (Django's `CSRF_COOKIE_NAME`).
pub const CSRF_COOKIE: &str = "csrftoken";
/// The request header that echoes it (Django's `CSRF_HEADER_NAME`), also sent back at sign-in
/// and refresh for a frontend on another host, which cannot read the API's cookie.
pub const CSRF_HEADER: &str = "X-CSRFToken";

/// The value of cookie `name` in a `Cookie` header: the first one of that name, `None` when it
/// is absent or empty.
pub fn read<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// Where a request's access credential comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessFrom<'a> {
    /// The Authorization header (or nothing at all): the header wins whenever it is present,
    /// whatever it carries, as dj-rest-auth's JWTCookieAuthentication decides.
    Header(Option<&'a str>),
    /// The access cookie, in cookie mode when there is no Authorization header.
    Cookie(&'a str),
}

/// Chooses the credential: the Authorization header when present, else the access cookie in
/// cookie mode, else none.
pub fn access_from<'a>(
    authorization: Option<&'a str>,
    cookie_header: Option<&'a str>,
    cookies: Option<&CookieSettings>,
) -> AccessFrom<'a> {
    if authorization.is_some() {
        return AccessFrom::Header(authorization);
    }
    match cookies.and_then(|c| read(cookie_header, &c.access_name)) {
        Some(token) => AccessFrom::Cookie(token),
        None => AccessFrom::Header(None),
    }
}

/// The three cookies of a browser session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jar {
    /// The access token, HttpOnly, path `/`.
    Access,
    /// The refresh token, HttpOnly, only on JWT_AUTH_REFRESH_COOKIE_PATH.
    Refresh,
    /// The CSRF token, readable by page scripts (it is no credential by itself), path `/`.
    Csrf,
}

impl Jar {
    fn name(self, c: &CookieSettings) -> &str {
        match self {
            Jar::Access => &c.access_name,
            Jar::Refresh => &c.refresh_name,
            Jar::Csrf => CSRF_COOKIE,
        }
    }

    fn path(self, c: &CookieSettings) -> &str {
        match self {
            Jar::Refresh => &c.refresh_path,
            Jar::Access | Jar::Csrf => "/",
        }
    }
}

/// One `Set-Cookie` value: `Max-Age` (never `Expires`), the path, the domain if configured,
/// `Secure`, `HttpOnly` for the token cookies, and `SameSite`.
pub fn set(c: &CookieSettings, jar: Jar, value: &str, max_age: i64) -> String {
    let mut out = format!(
        "{}={value}; Max-Age={max_age}; Path={}",
        jar.name(c),
        jar.path(c)
    );
    if let Some(domain) = &c.domain {
        out.push_str("; Domain=");
        out.push_str(domain);
    }
    if c.secure {
        out.push_str("; Secure");
    }
    if c.http_only && jar != Jar::Csrf {
        out.push_str("; HttpOnly");
    }
    out.push_str("; SameSite=");
    out.push_str(c.same_site.as_str());
    out
}

/// The cookies a sign-in (or a refresh) sets: the access cookie for ACCESS_TOKEN_LIFETIME, the
/// refresh cookie (when there is a new refresh token) and the CSRF cookie for
/// REFRESH_TOKEN_LIFETIME.
pub fn signed_in(
    settings: &Settings,
    c: &CookieSettings,
    access: &str,
    refresh: Option<&str>,
    csrf: &str,
) -> Vec<String> {
    let mut out = vec![set(c, Jar::Access, access, settings.access_token_lifetime)];
    if let Some(refresh) = refresh {
        out.push(set(
            c,
            Jar::Refresh,
            refresh,
            settings.refresh_token_lifetime,
        ));
    }
    out.push(set(c, Jar::Csrf, csrf, settings.refresh_token_lifetime));
    out
}

/// The cookies a logout sets: all three, empty, with `Max-Age=0` (the same name, path and
/// domain, or the browser would keep the originals).
pub fn cleared(c: &CookieSettings) -> Vec<String> {
    [Jar::Access, Jar::Refresh, Jar::Csrf]
        .into_iter()
        .map(|jar| set(c, jar, "", 0))
        .collect()
}

/// A new CSRF token: 256 random bits as 64 lowercase hex characters.
pub fn new_csrf_token() -> Result<String, FlowError> {
    Ok(hex(&random::<32>()?))
}

/// True for the methods that may change state (RFC 9110's unsafe ones): only those need a
/// CSRF proof.
pub fn is_unsafe(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// What the CSRF rules look at in a cookie-authenticated request.
#[derive(Debug, Clone, Copy)]
pub struct CsrfRequest<'a> {
    /// The `Origin` header.
    pub origin: Option<&'a str>,
    /// The `Sec-Fetch-Site` header.
    pub fetch_site: Option<&'a str>,
    /// This API's own origin (scheme, host, port), always trusted.
    pub own_origin: &'a str,
    /// CORS_ALLOWED_ORIGINS (never `*` in cookie mode).
    pub trusted: &'a [String],
    /// The `csrftoken` cookie.
    pub cookie: Option<&'a str>,
    /// The `X-CSRFToken` header.
    pub header: Option<&'a str>,
    /// JWT_AUTH_COOKIE_USE_CSRF: whether the double-submit token is required.
    pub use_token: bool,
}

/// Django's CsrfViewMiddleware order: the origin first (an `Origin` must be this API's own or
/// one of CORS_ALLOWED_ORIGINS; a cross-site `Sec-Fetch-Site` without an `Origin` is refused),
/// then the cookie, then the header, compared in constant time. `Err` is the reason DRF puts
/// after "CSRF Failed: ".
pub fn check(r: &CsrfRequest<'_>) -> Result<(), String> {
    match r.origin {
        Some(origin) => {
            if origin != r.own_origin && !r.trusted.iter().any(|t| t == origin) {
                return Err(msg::CSRF_BAD_ORIGIN.replace("%s", origin));
            }
        }
        None => {
            if matches!(r.fetch_site, Some("cross-site" | "same-site")) {
                return Err(msg::CSRF_NO_REFERER.to_string());
            }
        }
    }
    if !r.use_token {
        return Ok(());
    }
    let Some(cookie) = r.cookie.filter(|v| !v.is_empty()) else {
        return Err(msg::CSRF_NO_COOKIE.to_string());
    };
    let Some(header) = r.header.map(str::trim).filter(|v| !v.is_empty()) else {
        return Err(msg::CSRF_TOKEN_MISSING.to_string());
    };
    if bool::from(cookie.as_bytes().ct_eq(header.as_bytes())) {
        Ok(())
    } else {
        Err(msg::CSRF_TOKEN_INCORRECT.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SameSite;

    fn mode() -> CookieSettings {
        CookieSettings {
            access_name: "__Host-access".into(),
            refresh_name: "__Secure-refresh".into(),
            refresh_path: "/auth/jwt/".into(),
            secure: true,
            http_only: true,
            same_site: SameSite::Strict,
            domain: None,
            use_csrf: true,
        }
    }

    const OWN: &str = "https://api.example.com";

    fn trusted() -> Vec<String> {
        vec!["https://app.example.com".to_string()]
    }

    fn request<'a>(trusted: &'a [String]) -> CsrfRequest<'a> {
        CsrfRequest {
            origin: Some("https://app.example.com"),
            fetch_site: Some("same-site"),
            own_origin: OWN,
            trusted,
            cookie: Some("abc123"),
            header: Some("abc123"),
            use_token: true,
        }
    }

    #[test]
    fn a_cookie_is_read_by_its_exact_name_and_the_first_one_wins() {
        let h = Some("a=1; __Host-access=tok; other=x; __Host-access=second");
        assert_eq!(read(h, "__Host-access"), Some("tok"));
        assert_eq!(read(h, "access"), None);
        assert_eq!(read(Some("x=\"quoted\""), "x"), Some("quoted"));
        assert_eq!(read(Some("x="), "x"), None);
        assert_eq!(read(Some("garbage;;="), "x"), None);
        assert_eq!(read(None, "x"), None);
    }

    #[test]
    fn the_authorization_header_wins_over_the_access_cookie() {
        let c = mode();
        let cookie = Some("__Host-access=from-cookie");
        assert_eq!(
            access_from(Some("Bearer h"), cookie, Some(&c)),
            AccessFrom::Header(Some("Bearer h"))
        );
        // Present but of another scheme: still the header, so the caller is anonymous.
        assert_eq!(
            access_from(Some("Basic x"), cookie, Some(&c)),
            AccessFrom::Header(Some("Basic x"))
        );
        assert_eq!(
            access_from(None, cookie, Some(&c)),
            AccessFrom::Cookie("from-cookie")
        );
        assert_eq!(access_from(None, None, Some(&c)), AccessFrom::Header(None));
    }

    #[test]
    fn without_cookie_mode_no_cookie_is_ever_read() {
        assert_eq!(
            access_from(None, Some("__Host-access=tok"), None),
            AccessFrom::Header(None)
        );
    }

    #[test]
    fn the_cookies_follow_owasp_by_default() {
        let s = Settings::default();
        let c = mode();
        assert_eq!(
            signed_in(&s, &c, "A", Some("R"), "T"),
            [
                "__Host-access=A; Max-Age=300; Path=/; Secure; HttpOnly; SameSite=Strict",
                "__Secure-refresh=R; Max-Age=86400; Path=/auth/jwt/; Secure; HttpOnly; SameSite=Strict",
                "csrftoken=T; Max-Age=86400; Path=/; Secure; SameSite=Strict",
            ]
        );
        assert_eq!(signed_in(&s, &c, "A", None, "T").len(), 2);
    }

    #[test]
    fn configured_attributes_appear_and_clearing_uses_the_same_path_and_domain() {
        let c = CookieSettings {
            access_name: "access".into(),
            refresh_name: "refresh".into(),
            secure: false,
            http_only: false,
            same_site: SameSite::Lax,
            domain: Some("example.com".into()),
            ..mode()
        };
        assert_eq!(
            set(&c, Jar::Access, "A", 60),
            "access=A; Max-Age=60; Path=/; Domain=example.com; SameSite=Lax"
        );
        assert_eq!(
            cleared(&c),
            [
                "access=; Max-Age=0; Path=/; Domain=example.com; SameSite=Lax",
                "refresh=; Max-Age=0; Path=/auth/jwt/; Domain=example.com; SameSite=Lax",
                "csrftoken=; Max-Age=0; Path=/; Domain=example.com; SameSite=Lax",
            ]
        );
    }

    #[test]
    fn csrf_tokens_are_64_hex_characters_and_differ() {
        let a = new_csrf_token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, new_csrf_token().unwrap());
    }

    #[test]
    fn only_unsafe_methods_need_a_csrf_proof() {
        for m in ["GET", "HEAD", "OPTIONS", "TRACE"] {
            assert!(!is_unsafe(m), "{m}");
        }
        for m in ["POST", "PUT", "PATCH", "DELETE", "PROPFIND"] {
            assert!(is_unsafe(m), "{m}");
        }
    }

    #[test]
    fn a_trusted_origin_with_the_matching_token_passes() {
        let t = trusted();
        assert_eq!(check(&request(&t)), Ok(()));
        let own = CsrfRequest {
            origin: Some(OWN),
            fetch_site: Some("same-origin"),
            ..request(&t)
        };
        assert_eq!(check(&own), Ok(()));
        let no_browser_headers = CsrfRequest {
            origin: None,
            fetch_site: None,
            ..request(&t)
        };
        assert_eq!(check(&no_browser_headers), Ok(()));
    }

    #[test]
    fn an_untrusted_origin_is_refused_with_djangos_reason() {
        let t = trusted();
        for origin in [
            "https://evil.example",
            "http://app.example.com",
            "https://app.example.com.evil.test",
            "null",
        ] {
            let r = CsrfRequest {
                origin: Some(origin),
                ..request(&t)
            };
            assert_eq!(
                check(&r),
                Err(format!(
                    "Origin checking failed - {origin} does not match any trusted origins."
                ))
            );
        }
    }

    #[test]
    fn a_cross_site_request_without_an_origin_is_refused() {
        let t = trusted();
        let r = CsrfRequest {
            origin: None,
            fetch_site: Some("cross-site"),
            ..request(&t)
        };
        assert_eq!(check(&r), Err(msg::CSRF_NO_REFERER.to_string()));
    }

    #[test]
    fn a_missing_cookie_a_missing_header_and_a_wrong_token_each_have_their_reason() {
        let t = trusted();
        let no_cookie = CsrfRequest {
            cookie: None,
            ..request(&t)
        };
        assert_eq!(check(&no_cookie), Err("CSRF cookie not set.".into()));
        let no_header = CsrfRequest {
            header: None,
            ..request(&t)
        };
        assert_eq!(check(&no_header), Err("CSRF token missing.".into()));
        let blank = CsrfRequest {
            header: Some("  "),
            ..request(&t)
        };
        assert_eq!(check(&blank), Err("CSRF token missing.".into()));
        for wrong in ["abc124", "abc12", "abc1234", "ABC123"] {
            let r = CsrfRequest {
                header: Some(wrong),
                ..request(&t)
            };
            assert_eq!(check(&r), Err("CSRF token incorrect.".into()), "{wrong}");
        }
    }

    #[test]
    fn without_use_csrf_only_the_origin_is_checked() {
        let t = trusted();
        let r = CsrfRequest {
            header: None,
            cookie: None,
            use_token: false,
            ..request(&t)
        };
        assert_eq!(check(&r), Ok(()));
        let evil = CsrfRequest {
            origin: Some("https://evil.example"),
            ..r
        };
        assert!(check(&evil).is_err());
    }
}
