//! Social sign-in against a fake provider (an ES256 OpenID Connect issuer and a GitHub API)
//! over the memory store, with a fixed clock.

use std::cell::RefCell;
use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_compact::alg::Es256;
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm as _, AlgorithmSignature};
use serde_json::{json, Value};

use super::*;
use crate::config::{Provider, ProviderKind, Settings};
use crate::domain::user::User;
use crate::flows::testing::{cx, cx_at, settings, NOW};
use crate::storage::memory::{block_on, both, MemoryStore};
use crate::storage::UserLookup;

const ISSUER: &str = "https://id.example.com";
const REDIRECT: &str = "https://app.example.com/auth/callback";
const CLIENT_ID: &str = "client-1";

/// What the fake provider does and saw.
struct Fake {
    key: p256::ecdsa::SigningKey,
    /// Claims the next ID token has (the nonce is copied from the authorization URL's).
    claims: RefCell<Value>,
    /// The nonce and code challenge of the authorization URL, per code.
    codes: RefCell<HashMap<String, (String, String)>>,
    /// The forms posted to the token endpoint.
    posted: RefCell<Vec<Vec<(String, String)>>>,
    /// A different key signs the ID tokens (tampering).
    wrong_key: bool,
    /// GitHub's user and e-mails answers.
    github_user: RefCell<Value>,
    github_emails: RefCell<Value>,
    /// Every call fails like this.
    down: Option<NetError>,
    /// GET calls, by URL, with their cache policy.
    gets: RefCell<Vec<(String, Cache)>>,
    /// A kept JWK Set from before a key rotation, answered while a cached copy will do.
    stale_jwks: Option<Value>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            key: p256::ecdsa::SigningKey::from_slice(&[5; 32]).unwrap(),
            claims: RefCell::new(json!({
                "iss": ISSUER,
                "sub": "subject-1",
                "aud": CLIENT_ID,
                "email": "Jane@Example.com",
                "email_verified": true,
                "preferred_username": "jane",
                "given_name": "Jane",
                "family_name": "Doe",
                "iat": NOW,
                "exp": NOW + 300,
            })),
            codes: RefCell::default(),
            posted: RefCell::default(),
            wrong_key: false,
            github_user: RefCell::new(json!({"id": 4242, "login": "octo cat", "name": "Octo Cat"})),
            github_emails: RefCell::new(json!([
                {"email": "other@example.com", "primary": false, "verified": true},
                {"email": "octo@example.com", "primary": true, "verified": true},
            ])),
            down: None,
            gets: RefCell::default(),
            stale_jwks: None,
        }
    }

    /// What the provider does at its login page: remembers the request, hands out a code.
    fn authorize(&self, url: &str) -> (String, String) {
        let query = url.split_once('?').unwrap().1;
        let params: HashMap<String, String> = query
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_string(), decode(v))
            })
            .collect();
        assert_eq!(params["code_challenge_method"], "S256");
        assert_eq!(params["redirect_uri"], REDIRECT);
        let code = format!("code-{}", self.codes.borrow().len());
        self.codes.borrow_mut().insert(
            code.clone(),
            (
                params.get("nonce").cloned().unwrap_or_default(),
                params["code_challenge"].clone(),
            ),
        );
        (code, params["state"].clone())
    }

    fn id_token(&self, nonce: &str) -> String {
        let mut claims = self.claims.borrow().clone();
        claims["nonce"] = json!(nonce);
        let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let input = format!(
            "{}.{}",
            b64(&json!({"alg": "ES256", "kid": "k1"})),
            b64(&claims)
        );
        let key = if self.wrong_key {
            p256::ecdsa::SigningKey::from_slice(&[6; 32]).unwrap()
        } else {
            self.key.clone()
        };
        let signature = Es256.sign(&key, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_bytes()))
    }
}

fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn ok(body: Value) -> Result<HttpAnswer, NetError> {
    Ok(HttpAnswer {
        status: 200,
        body: body.to_string(),
    })
}

impl Outbound for Fake {
    async fn get(
        &self,
        url: &str,
        _headers: &[(&str, &str)],
        cache: Cache,
    ) -> Result<HttpAnswer, NetError> {
        if let Some(e) = &self.down {
            return Err(e.clone());
        }
        self.gets.borrow_mut().push((url.to_string(), cache));
        if let (Some(stale), Cache::Allow, "https://id.example.com/jwks") =
            (&self.stale_jwks, cache, url)
        {
            return ok(stale.clone());
        }
        match url {
            "https://id.example.com/.well-known/openid-configuration" => ok(json!({
                "issuer": ISSUER,
                "authorization_endpoint": "https://id.example.com/auth",
                "token_endpoint": "https://id.example.com/token",
                "jwks_uri": "https://id.example.com/jwks",
            })),
            "https://accounts.google.com/.well-known/openid-configuration" => ok(json!({
                "issuer": "https://accounts.google.com",
                "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
                "token_endpoint": "https://oauth2.googleapis.com/token",
                "jwks_uri": "https://id.example.com/jwks",
            })),
            "https://id.example.com/jwks" => {
                let mut jwk =
                    serde_json::to_value(JsonWebKey::from(self.key.verifying_key())).unwrap();
                jwk["kid"] = json!("k1");
                ok(json!({ "keys": [jwk] }))
            }
            "https://gh.example.com/api/user" => ok(self.github_user.borrow().clone()),
            "https://gh.example.com/api/user/emails" => ok(self.github_emails.borrow().clone()),
            _ => Ok(HttpAnswer {
                status: 404,
                body: String::new(),
            }),
        }
    }

    async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        _headers: &[(&str, &str)],
    ) -> Result<HttpAnswer, NetError> {
        if let Some(e) = &self.down {
            return Err(e.clone());
        }
        let form: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.posted.borrow_mut().push(form.clone());
        let get = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        // The code is single-use and PKCE-bound, as at a real provider.
        let Some((nonce, challenge)) = self.codes.borrow_mut().remove(&get("code")) else {
            return Ok(HttpAnswer {
                status: 400,
                body: json!({"error": "invalid_grant"}).to_string(),
            });
        };
        if oidc::pkce_challenge(&get("code_verifier")) != challenge
            || get("client_secret") != "s3cret"
        {
            return Ok(HttpAnswer {
                status: 400,
                body: json!({"error": "invalid_grant"}).to_string(),
            });
        }
        match url {
            "https://id.example.com/token" | "https://oauth2.googleapis.com/token" => ok(json!({
                "access_token": "at", "token_type": "Bearer", "id_token": self.id_token(&nonce),
            })),
            "https://gh.example.com/token" => {
                ok(json!({"access_token": "gho_x", "token_type": "bearer"}))
            }
            _ => panic!("unexpected token endpoint {url}"),
        }
    }
}

fn social_settings(associate: bool) -> Settings {
    let mut s = settings();
    // The throttle has its own test below; the others sign in many times from one client.
    s.rate_limits = false;
    s.social.allowed_redirect_uris = vec![REDIRECT.to_string()];
    s.social.associate_by_email = associate;
    s.social.providers = vec![
        Provider {
            name: "oidc",
            kind: ProviderKind::Oidc {
                issuer: ISSUER.into(),
            },
            key: CLIENT_ID.into(),
            secret: "s3cret".into(),
            scope: vec!["openid".into(), "email".into()],
        },
        Provider {
            name: "github",
            kind: ProviderKind::Github {
                authorization_url: "https://gh.example.com/authorize".into(),
                access_token_url: "https://gh.example.com/token".into(),
                api_url: "https://gh.example.com/api/".into(),
            },
            key: "gh-client".into(),
            secret: "s3cret".into(),
            scope: vec!["user:email".into()],
        },
    ];
    s
}

/// The whole dance: the authorization URL, the provider's code, the callback.
fn sign_in(
    s: &Settings,
    store: &MemoryStore,
    fake: &Fake,
    provider: &str,
) -> Result<SignIn<Completed>, FlowError> {
    let c = cx(s, store);
    let url = block_on(begin(&c, fake, provider, Some(REDIRECT))).unwrap();
    let (code, state) = fake.authorize(&url);
    block_on(complete(&c, fake, provider, Some(&code), Some(&state)))
}

fn non_field(message: &str) -> FlowError {
    FlowError::non_field(message)
}

#[test]
fn the_authorization_url_carries_pkce_state_and_nonce_and_the_state_is_stored_hashed() {
    let s = social_settings(false);
    let store = MemoryStore::new();
    let fake = Fake::new();
    let url = block_on(begin(&cx(&s, &store), &fake, "oidc", Some(REDIRECT))).unwrap();
    assert!(url.starts_with("https://id.example.com/auth?client_id=client-1&redirect_uri=https%3A%2F%2Fapp.example.com%2Fauth%2Fcallback&state="), "{url}");
    assert!(url.contains("&response_type=code&scope=openid+email&code_challenge="));
    assert!(url.contains("&code_challenge_method=S256&nonce="));
    let (_, state) = fake.authorize(&url);
    let stored = store.snapshot().social_states;
    assert_eq!(stored.len(), 1);
    let row = stored.values().next().unwrap();
    assert_eq!(row.id, state_id(&state));
    assert_ne!(row.id, state);
    assert_eq!(row.provider, "oidc");
    assert_eq!(row.redirect_uri, REDIRECT);
    assert_eq!(row.expires_at, NOW + STATE_LIFETIME);
    assert!(url.contains(&format!(
        "code_challenge={}",
        oidc::pkce_challenge(&row.verifier)
    )));
    assert!(url.contains(&format!("nonce={}", row.nonce)));
    // GitHub: no discovery, no nonce.
    let gh = block_on(begin(&cx(&s, &store), &fake, "github", Some(REDIRECT))).unwrap();
    assert!(gh.starts_with("https://gh.example.com/authorize?client_id=gh-client&"));
    assert!(!gh.contains("nonce="));
    assert!(gh.contains("scope=user%3Aemail"));
}

#[test]
fn a_disallowed_redirect_uri_comes_before_an_unknown_provider() {
    let s = social_settings(false);
    let store = MemoryStore::new();
    let fake = Fake::new();
    let c = cx(&s, &store);
    let bare = FlowError::BareString(msg::SOCIAL_REDIRECT_URI_NOT_ALLOWED);
    assert_eq!(
        block_on(begin(&c, &fake, "nope", Some("https://evil.example.com/"))),
        Err(bare.clone())
    );
    assert_eq!(block_on(begin(&c, &fake, "oidc", None)), Err(bare));
    assert_eq!(
        block_on(begin(&c, &fake, "nope", Some(REDIRECT))),
        Err(FlowError::ProviderNotSupported("nope".into()))
    );
    assert_eq!(
        block_on(complete(&c, &fake, "nope", Some("c"), Some("s"))),
        Err(FlowError::ProviderNotSupported("nope".into()))
    );
    assert!(store.snapshot().social_states.is_empty());
}

#[test]
fn a_first_sign_in_creates_an_active_user_and_the_second_finds_it() {
    let s = social_settings(false);
    let store = MemoryStore::new();
    let fake = Fake::new();
    let SignIn::Open(first) = sign_in(&s, &store, &fake, "oidc").unwrap() else {
        panic!("no session")
    };
    assert_eq!(first.user, "jane");
    let user = block_on(store.find_user(UserLookup::Username("jane")))
        .unwrap()
        .unwrap();
    assert!(user.is_active);
    assert!(!user.has_usable_password());
    assert_eq!(user.email, "Jane@example.com");
    assert_eq!(
        (user.first_name.as_str(), user.last_name.as_str()),
        ("Jane", "Doe")
    );
    // The token endpoint got the verifier of the challenge it was shown.
    let posted = fake.posted.borrow();
    assert!(posted[0].iter().any(|(k, _)| k == "code_verifier"));
    drop(posted);
    let SignIn::Open(second) = sign_in(&s, &store, &fake, "oidc").unwrap() else {
        panic!("no session")
    };
    assert_eq!(second.user, "jane");
    assert_eq!(store.snapshot().users.len(), 1);
    assert_ne!(first.tokens.refresh, second.tokens.refresh);
}

#[test]
fn sign_in_events_are_recorded() {
    let s = social_settings(false);
    let store = MemoryStore::new();
    let fake = Fake::new();
    let c = cx(&s, &store);
    let url = block_on(begin(&c, &fake, "oidc", Some(REDIRECT))).unwrap();
    let (code, state) = fake.authorize(&url);
    block_on(complete(&c, &fake, "oidc", Some(&code), Some(&state))).unwrap();
    let kinds: Vec<EventKind> = c.events.take().into_iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::SocialAccountCreated,
            EventKind::LoginSucceeded,
            EventKind::SocialLogin
        ]
    );
}

#[test]
fn a_state_is_spent_once_and_a_foreign_or_expired_one_is_refused() {
    let s = social_settings(false);
    let store = MemoryStore::new();
    let fake = Fake::new();
    let c = cx(&s, &store);
    let url = block_on(begin(&c, &fake, "oidc", Some(REDIRECT))).unwrap();
    let (code, state) = fake.authorize(&url);
    // Another provider's callback cannot spend it, and leaves it in place.
    assert_eq!(
        block_on(complete(&c, &fake, "github", Some(&code), Some(&state))),
        Err(non_field(msg::SOCIAL_STATE_INVALID))
    );
    assert_eq!(store.snapshot().social_states.len(), 1);
    assert!(block_on(complete(&c, &fake, "oidc", Some(&code), Some(&state))).is_ok());
    assert_eq!(
        block_on(complete(&c, &fake, "oidc", Some(&code), Some(&state))),
        Err(non_field(msg::SOCIAL_STATE_INVALID))
    );
    assert_eq!(
        block_on(complete(
            &c,
            &fake,
            "oidc",
            Some(&code),
            Some("never-issued")
        )),
        Err(non_field(msg::SOCIAL_STATE_INVALID))
    );
    // Expired: one second after its lifetime.
    let url = block_on(begin(&c, &fake, "oidc", Some(REDIRECT))).unwrap();
    let (code, state) = fake.authorize(&url);
    let late = cx_at(&s, &store, NOW + STATE_LIFETIME);
    assert_eq!(
        block_on(complete(&late, &fake, "oidc", Some(&code), Some(&state))),
        Err(non_field(msg::SOCIAL_STATE_INVALID))
    );
    for (code, state) in [(None, Some("s")), (Some("c"), None), (Some(""), Some("s"))] {
        assert_eq!(
            block_on(complete(&c, &fake, "oidc", code, state)),
            Err(non_field(msg::SOCIAL_MISSING_PARAMETER))
        );
    }
}

#[test]
fn two_concurrent_callbacks_with_one_state_sign_in_once() {
    let s = social_settings(false);
    let store = MemoryStore::interleaved();
    let fake = Fake::new();
    let c = cx(&s, &store);
    let url = block_on(begin(&c, &fake, "oidc", Some(REDIRECT))).unwrap();
    let (code, state) = fake.authorize(&url);
    let (a, b) = both(
        complete(&c, &fake, "oidc", Some(&code), Some(&state)),
        complete(&c, &fake, "oidc", Some(&code), Some(&state)),
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} {b:?}"
    );
    assert_eq!(fake.posted.borrow().len(), 1);
}

#[test]
fn a_tampered_id_token_or_a_wrong_nonce_is_refused_and_creates_nobody() {
    let s = social_settings(false);
    let store = MemoryStore::new();
    let mut fake = Fake::new();
    fake.wrong_key = true;
    assert_eq!(
        sign_in(&s, &store, &fake, "oidc"),
        Err(non_field(msg::SOCIAL_INVALID_SIGNATURE))
    );
    fake.wrong_key = false;
    fake.claims.borrow_mut()["aud"] = json!("another-client");
    assert_eq!(
        sign_in(&s, &store, &fake, "oidc"),
        Err(non_field(msg::SOCIAL_INVALID_CLAIM))
    );
    fake.claims.borrow_mut()["aud"] = json!(CLIENT_ID);
    fake.claims.borrow_mut()["exp"] = json!(NOW - ID_TOKEN_LEEWAY);
    assert_eq!(
        sign_in(&s, &store, &fake, "oidc"),
        Err(non_field(msg::SOCIAL_RESPONSE_EXPIRED))
    );
    assert!(store.snapshot().users.is_empty());
    assert!(store.snapshot().social_accounts.is_empty());
}

#[test]
fn a_wrong_verifier_is_refused_by_the_provider() {
    // The fake provider checks PKCE as a real one does; a state row whose verifier is not the
    // challenge's fails at the token endpoint.
    let s = social_settings(false);
    let store = MemoryStore::new();
    let fake = Fake::new();
    let c = cx(&s, &store);
    let url = block_on(begin(&c, &fake, "oidc", Some(REDIRECT))).unwrap();
    let (code, state) = fake.authorize(&url);
    {
        let mut snapshot = store.snapshot();
        let row = snapshot.social_states.get_mut(&state_id(&state)).unwrap();
        row.verifier = "x".repeat(43);
        block_on(store.consume_social_state(&state_id(&state), "oidc", NOW)).unwrap();
        block_on(store.create_social_state(row)).unwrap();
    }
    assert_eq!(
        block_on(complete(&c, &fake, "oidc", Some(&code), Some(&state))),
        Err(non_field(msg::SOCIAL_CODE_REJECTED))
    );
}

#[test]
fn provider_outages_are_clear_400s() {
    let s = social_settings(false);
    let store = MemoryStore::new();
    let mut fake = Fake::new();
    fake.down = Some(NetError::Timeout);
    assert_eq!(
        block_on(begin(&cx(&s, &store), &fake, "oidc", Some(REDIRECT))),
        Err(non_field(msg::SOCIAL_TIMEOUT))
    );
    fake.down = Some(NetError::Unreachable("refused".into()));
    assert_eq!(
        block_on(begin(&cx(&s, &store), &fake, "oidc", Some(REDIRECT))),
        Err(non_field(msg::SOCIAL_CONNECTION_FAILED))
    );
    assert!(store.snapshot().social_states.is_empty());
}

fn existing(store: &MemoryStore) -> User {
    let user = User::for_tests(7, "jane.local", "jane@example.com", "argon2-hash");
    store.put_user(user.clone());
    user
}

#[test]
fn an_address_of_an_existing_account_is_refused_unless_linking_is_allowed() {
    let store = MemoryStore::new();
    existing(&store);
    let fake = Fake::new();
    assert_eq!(
        sign_in(&social_settings(false), &store, &fake, "oidc"),
        Err(non_field(msg::SOCIAL_EMAIL_IN_USE))
    );
    assert!(store.snapshot().social_accounts.is_empty());
    let s = social_settings(true);
    let c = cx(&s, &store);
    let url = block_on(begin(&c, &fake, "oidc", Some(REDIRECT))).unwrap();
    let (code, state) = fake.authorize(&url);
    let SignIn::Open(done) =
        block_on(complete(&c, &fake, "oidc", Some(&code), Some(&state))).unwrap()
    else {
        panic!("no session")
    };
    assert_eq!(done.user, "jane.local");
    assert!(c
        .events
        .take()
        .iter()
        .any(|e| e.kind == EventKind::SocialAccountLinked && e.user_id == 7));
    assert_eq!(store.snapshot().users.len(), 1);
}

#[test]
fn an_unverified_address_never_links_and_is_not_kept() {
    let store = MemoryStore::new();
    existing(&store);
    let fake = Fake::new();
    fake.claims.borrow_mut()["email_verified"] = json!(false);
    let SignIn::Open(done) = sign_in(&social_settings(true), &store, &fake, "oidc").unwrap() else {
        panic!("no session")
    };
    // A new account (the name taken by nobody), without the address.
    assert_eq!(done.user, "jane");
    let user = block_on(store.find_user(UserLookup::Username("jane")))
        .unwrap()
        .unwrap();
    assert_eq!(user.email, "");
}

#[test]
fn inactive_users_are_refused_and_a_second_factor_is_asked_for() {
    let s = social_settings(false);
    let store = MemoryStore::new();
    let fake = Fake::new();
    sign_in(&s, &store, &fake, "oidc").unwrap();
    let mut user = block_on(store.find_user(UserLookup::Username("jane")))
        .unwrap()
        .unwrap();
    user.mfa_enabled = true;
    store.put_user(user.clone());
    assert!(matches!(
        sign_in(&s, &store, &fake, "oidc"),
        Ok(SignIn::SecondFactor(_))
    ));
    user.is_active = false;
    store.put_user(user);
    assert_eq!(
        sign_in(&s, &store, &fake, "oidc"),
        Err(non_field(msg::SOCIAL_DISALLOWED))
    );
}

#[test]
fn github_signs_in_with_the_primary_verified_address_and_a_unique_username() {
    let s = social_settings(false);
    let store = MemoryStore::new();
    store.put_user(User::for_tests(3, "octo_cat", "", "h"));
    let fake = Fake::new();
    let SignIn::Open(done) = sign_in(&s, &store, &fake, "github").unwrap() else {
        panic!("no session")
    };
    assert_eq!(done.user, "octo_cat2");
    let user = block_on(store.find_user(UserLookup::Username("octo_cat2")))
        .unwrap()
        .unwrap();
    assert_eq!(user.email, "octo@example.com");
    assert!(store
        .snapshot()
        .social_accounts
        .contains_key(&("github".to_string(), "4242".to_string())));
    assert!(fake
        .gets
        .borrow()
        .iter()
        .any(|(u, cache)| u.ends_with("/api/user/emails") && *cache == Cache::Never));
}

#[test]
fn usernames_are_derived_from_the_hints_and_numbered_within_150_characters() {
    let hints = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(derive_username(&hints(&["jane doe"])), "jane_doe");
    assert_eq!(derive_username(&hints(&["", "!!!", "jd@x"])), "jd@x");
    assert_eq!(derive_username(&hints(&["Zoë"])), "Zoë");
    assert_eq!(derive_username(&hints(&[])), "user");
    assert_eq!(
        derive_username(&hints(&[&"a".repeat(400)])).chars().count(),
        150
    );
    assert_eq!(numbered("jane", 1), "jane");
    assert_eq!(numbered("jane", 3), "jane3");
    let long = numbered(&"b".repeat(150), 12);
    assert_eq!(long.chars().count(), 150);
    assert!(long.ends_with("b12"));
}

#[test]
fn github_identity_takes_the_primary_address_and_never_the_public_one_as_verified() {
    let user = json!({"id": 1, "login": "octo", "email": "public@example.com"});
    let map = user.as_object().unwrap();
    let none = github_identity_from(map, None).unwrap();
    assert_eq!(none.email, "public@example.com");
    assert!(!none.email_verified);
    let unverified = json!([{"email": "p@example.com", "primary": true, "verified": false}]);
    let got = github_identity_from(map, Some(&unverified)).unwrap();
    assert_eq!(
        (got.email.as_str(), got.email_verified),
        ("p@example.com", false)
    );
    assert!(github_identity_from(json!({"login": "x"}).as_object().unwrap(), None).is_none());
}

#[test]
fn form_encoding_escapes_everything_but_the_unreserved_set() {
    assert_eq!(form_encode("a b&c=d/é~"), "a+b%26c%3Dd%2F%C3%A9~");
    assert_eq!(
        with_query("https://x/a?p=1", &[("q", "r s")]),
        "https://x/a?p=1&q=r+s"
    );
}

#[test]
fn a_kept_jwk_set_without_the_tokens_key_is_fetched_again_once() {
    let s = social_settings(false);
    let store = MemoryStore::new();
    let mut fake = Fake::new();
    fake.stale_jwks = Some(json!({"keys": []}));
    assert!(matches!(
        sign_in(&s, &store, &fake, "oidc"),
        Ok(SignIn::Open(_))
    ));
    let jwks: Vec<Cache> = fake
        .gets
        .borrow()
        .iter()
        .filter(|(u, _)| u.ends_with("/jwks"))
        .map(|(_, c)| *c)
        .collect();
    assert_eq!(jwks, [Cache::Allow, Cache::Refresh]);
    // Documents may come from the cache; a signature that fails with a fresh set too is refused.
    assert!(fake
        .gets
        .borrow()
        .iter()
        .all(|(u, c)| !u.ends_with("openid-configuration") || *c == Cache::Allow));
    fake.gets.borrow_mut().clear();
    fake.wrong_key = true;
    assert_eq!(
        sign_in(&s, &store, &fake, "oidc"),
        Err(non_field(msg::SOCIAL_INVALID_SIGNATURE))
    );
    assert_eq!(
        fake.gets
            .borrow()
            .iter()
            .filter(|(u, _)| u.ends_with("/jwks"))
            .count(),
        2
    );
}

#[test]
fn expired_states_go_with_the_scheduled_purge() {
    use crate::storage::ExpiredRows;
    let s = social_settings(false);
    let store = MemoryStore::new();
    let fake = Fake::new();
    block_on(begin(&cx(&s, &store), &fake, "github", Some(REDIRECT))).unwrap();
    let later = cx_at(&s, &store, NOW + 60);
    block_on(begin(&later, &fake, "github", Some(REDIRECT))).unwrap();
    assert_eq!(
        block_on(store.purge_expired_chunk(NOW + STATE_LIFETIME + 1, 100)),
        Ok(1)
    );
    assert_eq!(store.snapshot().social_states.len(), 1);
}

#[test]
fn both_halves_of_a_sign_in_count_against_the_login_limit_of_the_client() {
    let mut s = social_settings(false);
    s.rate_limits = true;
    s.rate_limit_login = crate::config::RateLimit {
        count: 3,
        window: 60,
    };
    let store = MemoryStore::new();
    let fake = Fake::new();
    sign_in(&s, &store, &fake, "oidc").unwrap();
    let c = cx(&s, &store);
    block_on(begin(&c, &fake, "oidc", Some(REDIRECT))).unwrap();
    assert!(matches!(
        block_on(begin(&c, &fake, "oidc", Some(REDIRECT))),
        Err(FlowError::Throttled { .. })
    ));
    assert!(matches!(
        block_on(complete(&c, &fake, "oidc", Some("c"), Some("s"))),
        Err(FlowError::Throttled { .. })
    ));
    // The refused GET stored nothing.
    assert_eq!(store.snapshot().social_states.len(), 1);
}

#[test]
fn google_is_oidc_with_its_issuer_written_either_way() {
    let mut s = social_settings(false);
    s.social.providers.push(Provider {
        name: "google-oauth2",
        kind: ProviderKind::Oidc {
            issuer: crate::config::GOOGLE_ISSUER.into(),
        },
        key: CLIENT_ID.into(),
        secret: "s3cret".into(),
        scope: vec!["openid".into(), "email".into(), "profile".into()],
    });
    let store = MemoryStore::new();
    let fake = Fake::new();
    let url = block_on(begin(
        &cx(&s, &store),
        &fake,
        "google-oauth2",
        Some(REDIRECT),
    ))
    .unwrap();
    assert!(
        url.starts_with("https://accounts.google.com/o/oauth2/v2/auth?"),
        "{url}"
    );
    for iss in ["accounts.google.com", "https://accounts.google.com"] {
        fake.claims.borrow_mut()["iss"] = json!(iss);
        assert!(
            matches!(
                sign_in(&s, &store, &fake, "google-oauth2"),
                Ok(SignIn::Open(_))
            ),
            "{iss}"
        );
    }
    fake.claims.borrow_mut()["iss"] = json!(ISSUER);
    assert_eq!(
        sign_in(&s, &store, &fake, "google-oauth2"),
        Err(non_field(msg::SOCIAL_INVALID_CLAIM))
    );
    // One identity per backend: the Google sign-ins made their own user.
    assert!(store
        .snapshot()
        .social_accounts
        .contains_key(&("google-oauth2".to_string(), "subject-1".to_string())));
}
