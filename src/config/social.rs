//! Social sign-in settings (docs/social.md), under python-social-auth's names:
//! `SOCIAL_AUTH_<BACKEND>_KEY` / `_SECRET` / `_SCOPE` for the backends `oidc` (any OpenID Connect
//! provider, `SOCIAL_AUTH_OIDC_OIDC_ENDPOINT` its issuer), `google-oauth2` and `github`, and
//! djoser's `SOCIAL_AUTH_ALLOWED_REDIRECT_URIS`. A backend is offered when its KEY is set.

use super::{Reader, Settings};
use crate::domain::oidc::acceptable_url;

/// Google's issuer.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
/// GitHub's endpoints (python-social-auth's GithubOAuth2 class attributes).
pub const GITHUB_AUTHORIZATION_URL: &str = "https://github.com/login/oauth/authorize";
/// See [`GITHUB_AUTHORIZATION_URL`].
pub const GITHUB_ACCESS_TOKEN_URL: &str = "https://github.com/login/oauth/access_token";
/// See [`GITHUB_AUTHORIZATION_URL`].
pub const GITHUB_API_URL: &str = "https://api.github.com/";

/// How a backend signs users in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenID Connect: discovery document of `issuer`, ID token checked against its JWK Set.
    Oidc {
        /// The issuer (python-social-auth's OIDC_ENDPOINT, without the well-known suffix).
        issuer: String,
    },
    /// GitHub's plain OAuth 2: the token endpoint, then `user` and `user/emails`.
    Github {
        /// Where the browser is sent.
        authorization_url: String,
        /// Where the code is exchanged.
        access_token_url: String,
        /// The REST API's base URL, with a trailing slash.
        api_url: String,
    },
}

/// One configured backend.
#[derive(Clone, PartialEq, Eq)]
pub struct Provider {
    /// python-social-auth's backend name: the `{provider}` of `o/{provider}/`.
    pub name: &'static str,
    /// How it works.
    pub kind: ProviderKind,
    /// The client id (`_KEY`).
    pub key: String,
    /// The client secret (`_SECRET`); never logged.
    pub secret: String,
    /// The scopes asked for (`_SCOPE`, or the backend's default).
    pub scope: Vec<String>,
}

impl std::fmt::Debug for Provider {
    // The client secret must never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("key", &self.key)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Everything social sign-in reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocialSettings {
    /// SOCIAL_AUTH_ALLOWED_REDIRECT_URIS (none): the only redirect URIs a sign-in may start with.
    pub allowed_redirect_uris: Vec<String>,
    /// The backends whose KEY is set.
    pub providers: Vec<Provider>,
    /// SOCIAL_AUTH_ASSOCIATE_BY_EMAIL (false): a first sign-in whose provider vouches for the
    /// e-mail address joins the existing account with that address.
    pub associate_by_email: bool,
}

impl SocialSettings {
    /// The backend named `name`, if configured.
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }
}

fn words(v: &str) -> Vec<String> {
    v.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn url<F: Fn(&str) -> Option<String>>(r: &mut Reader<F>, key: &str, default: &str) -> String {
    match r.optional(key) {
        Some(v) if acceptable_url(&v) => v,
        Some(v) => {
            r.problems.push(format!(
                "{key}: expected an https URL (http only to 127.0.0.1 or localhost), got {v:?}"
            ));
            default.to_string()
        }
        None => default.to_string(),
    }
}

fn backend<F: Fn(&str) -> Option<String>>(
    r: &mut Reader<F>,
    prefix: &str,
    name: &'static str,
    default_scope: &[&str],
) -> Option<(String, String, Vec<String>)> {
    let key = r.optional(&format!("{prefix}_KEY"));
    let secret = r.optional(&format!("{prefix}_SECRET"));
    let scope = r
        .optional(&format!("{prefix}_SCOPE"))
        .map(|v| words(&v))
        .unwrap_or_else(|| default_scope.iter().map(|s| s.to_string()).collect());
    match (key, secret) {
        (Some(key), Some(secret)) => Some((key, secret, scope)),
        (None, None) => None,
        (Some(_), None) => {
            r.problems.push(format!(
                "{prefix}_SECRET: needed with {prefix}_KEY (backend {name})"
            ));
            None
        }
        (None, Some(_)) => {
            r.problems.push(format!(
                "{prefix}_KEY: needed with {prefix}_SECRET (backend {name})"
            ));
            None
        }
    }
}

/// Reads the social settings into `s.social`.
pub(super) fn read<F: Fn(&str) -> Option<String>>(r: &mut Reader<F>, s: &mut Settings) {
    let mut social = SocialSettings::default();
    if let Some(v) = r.raw("SOCIAL_AUTH_ALLOWED_REDIRECT_URIS") {
        social.allowed_redirect_uris = words(&v);
    }
    r.bool(
        "SOCIAL_AUTH_ASSOCIATE_BY_EMAIL",
        &mut social.associate_by_email,
    );
    let oidc_scope = ["openid", "profile", "email"];
    let endpoint = r.optional("SOCIAL_AUTH_OIDC_OIDC_ENDPOINT");
    if let Some((key, secret, scope)) = backend(r, "SOCIAL_AUTH_OIDC", "oidc", &oidc_scope) {
        match endpoint {
            Some(issuer) if acceptable_url(&issuer) => social.providers.push(Provider {
                name: "oidc",
                kind: ProviderKind::Oidc { issuer },
                key,
                secret,
                scope,
            }),
            Some(v) => r.problems.push(format!(
                "SOCIAL_AUTH_OIDC_OIDC_ENDPOINT: expected the issuer's https URL, got {v:?}"
            )),
            None => r.problems.push(
                "SOCIAL_AUTH_OIDC_OIDC_ENDPOINT: needed with SOCIAL_AUTH_OIDC_KEY (the issuer)"
                    .into(),
            ),
        }
    }
    let google_scope = ["openid", "email", "profile"];
    if let Some((key, secret, scope)) = backend(
        r,
        "SOCIAL_AUTH_GOOGLE_OAUTH2",
        "google-oauth2",
        &google_scope,
    ) {
        social.providers.push(Provider {
            name: "google-oauth2",
            kind: ProviderKind::Oidc {
                issuer: GOOGLE_ISSUER.into(),
            },
            key,
            secret,
            scope,
        });
    }
    let authorization_url = url(
        r,
        "SOCIAL_AUTH_GITHUB_AUTHORIZATION_URL",
        GITHUB_AUTHORIZATION_URL,
    );
    let access_token_url = url(
        r,
        "SOCIAL_AUTH_GITHUB_ACCESS_TOKEN_URL",
        GITHUB_ACCESS_TOKEN_URL,
    );
    let mut api_url = url(r, "SOCIAL_AUTH_GITHUB_API_URL", GITHUB_API_URL);
    if !api_url.ends_with('/') {
        api_url.push('/');
    }
    if let Some((key, secret, scope)) = backend(r, "SOCIAL_AUTH_GITHUB", "github", &["user:email"])
    {
        social.providers.push(Provider {
            name: "github",
            kind: ProviderKind::Github {
                authorization_url,
                access_token_url,
                api_url,
            },
            key,
            secret,
            scope,
        });
    }
    s.social = social;
}

/// Social settings that work but are unsafe or useless outside local development.
pub(super) fn warnings(social: &SocialSettings, out: &mut Vec<String>) {
    for uri in &social.allowed_redirect_uris {
        if uri.starts_with("http://") {
            out.push(format!(
                "SOCIAL_AUTH_ALLOWED_REDIRECT_URIS: {uri:?} is not https: the provider would send \
                 the code there in the clear; use it for local development only"
            ));
        }
    }
    if !social.providers.is_empty() && social.allowed_redirect_uris.is_empty() {
        out.push(
            "SOCIAL_AUTH_ALLOWED_REDIRECT_URIS: empty, so no social sign-in can begin although a \
             backend is configured"
                .into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        crate::config::tests::from(pairs).map_err(|e| e.to_string())
    }

    #[test]
    fn no_backend_is_offered_by_default() {
        let s = settings(&[]).unwrap();
        assert!(s.social.providers.is_empty());
        assert!(s.social.allowed_redirect_uris.is_empty());
        assert!(!s.social.associate_by_email);
    }

    #[test]
    fn backends_follow_python_social_auth_names() {
        let s = settings(&[
            (
                "SOCIAL_AUTH_ALLOWED_REDIRECT_URIS",
                "https://app.example.com/cb, http://localhost:3000/cb",
            ),
            ("SOCIAL_AUTH_OIDC_KEY", "oidc-id"),
            ("SOCIAL_AUTH_OIDC_SECRET", "oidc-secret"),
            ("SOCIAL_AUTH_OIDC_OIDC_ENDPOINT", "https://id.example.com"),
            ("SOCIAL_AUTH_OIDC_SCOPE", "openid email"),
            ("SOCIAL_AUTH_GOOGLE_OAUTH2_KEY", "g-id"),
            ("SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET", "g-secret"),
            ("SOCIAL_AUTH_GITHUB_KEY", "gh-id"),
            ("SOCIAL_AUTH_GITHUB_SECRET", "gh-secret"),
            ("SOCIAL_AUTH_GITHUB_API_URL", "http://127.0.0.1:9999/api"),
        ])
        .unwrap();
        let social = &s.social;
        assert_eq!(social.allowed_redirect_uris.len(), 2);
        let oidc = social.provider("oidc").unwrap();
        assert_eq!(oidc.scope, vec!["openid", "email"]);
        assert_eq!(
            social.provider("google-oauth2").unwrap().scope,
            vec!["openid", "email", "profile"]
        );
        let github = social.provider("github").unwrap();
        assert!(matches!(
            &github.kind,
            super::ProviderKind::Github { api_url, access_token_url, .. }
                if api_url == "http://127.0.0.1:9999/api/"
                    && access_token_url == super::GITHUB_ACCESS_TOKEN_URL
        ));
        assert!(social.provider("facebook").is_none());
        // The secret never shows in Debug.
        assert!(!format!("{social:?}").contains("gh-secret"));
    }

    #[test]
    fn http_redirect_uris_and_a_backend_without_any_are_warned_about() {
        let github = [
            ("SOCIAL_AUTH_GITHUB_KEY", "gh-id"),
            ("SOCIAL_AUTH_GITHUB_SECRET", "gh-secret"),
        ];
        let none = settings(&github).unwrap();
        assert!(none
            .warnings()
            .iter()
            .any(|w| w.contains("no social sign-in can begin")));
        let mut pairs = github.to_vec();
        pairs.push((
            "SOCIAL_AUTH_ALLOWED_REDIRECT_URIS",
            "https://app.example.com/cb http://localhost:3000/cb myapp://cb",
        ));
        let warned: Vec<String> = settings(&pairs)
            .unwrap()
            .warnings()
            .into_iter()
            .filter(|w| w.starts_with("SOCIAL_AUTH"))
            .collect();
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(warned[0].contains("http://localhost:3000/cb"));
    }

    #[test]
    fn half_configured_backends_and_insecure_urls_are_named() {
        let err = settings(&[
            ("SOCIAL_AUTH_GITHUB_KEY", "gh-id"),
            ("SOCIAL_AUTH_OIDC_KEY", "k"),
            ("SOCIAL_AUTH_OIDC_SECRET", "s"),
            ("SOCIAL_AUTH_OIDC_OIDC_ENDPOINT", "http://id.example.com"),
            ("SOCIAL_AUTH_GITHUB_API_URL", "http://api.example.com/"),
        ])
        .err()
        .unwrap();
        assert!(err.contains("SOCIAL_AUTH_GITHUB_SECRET"), "{err}");
        assert!(err.contains("SOCIAL_AUTH_OIDC_OIDC_ENDPOINT"), "{err}");
        assert!(err.contains("SOCIAL_AUTH_GITHUB_API_URL"), "{err}");
    }
}
