//! ApiError: every failure a request can end in, and its DRF/djoser/simplejwt JSON body.
//!
//! This is the only module that knows status codes and error body shapes. Handlers return
//! `Result<_, ApiError>` and use `?`; the http layer turns the error into a response once.

use serde_json::{json, Map, Value};

use crate::flows::authn::AuthFailure;
use crate::flows::FlowError;
use crate::messages as msg;

/// Field-keyed validation errors in DRF's shape: `{"field": ["msg", ...], ...}`, insertion-ordered.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FieldErrors(Vec<(String, Vec<String>)>);

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one message under `field`, after any already there.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let message = message.into();
        match self.0.iter_mut().find(|(f, _)| f == field) {
            Some((_, list)) => list.push(message),
            None => self.0.push((field.to_string(), vec![message])),
        }
    }

    /// Adds every message under `field`.
    pub fn extend<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, field: &str, messages: I) {
        for m in messages {
            self.add(field, m);
        }
    }

    /// Moves every message of `other` in, after those already here.
    pub fn append(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            self.extend(&field, messages);
        }
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `field` has at least one message.
    #[cfg(test)]
    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|(f, _)| f == field)
    }

    /// `Ok(())` when empty, else the 400 error.
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Fields(self))
        }
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (field, list) in &self.0 {
            map.insert(field.clone(), json!(list));
        }
        Value::Object(map)
    }
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 400 with field-keyed messages (DRF serializer errors, `non_field_errors` included).
    Fields(FieldErrors),
    /// Any status with `{"detail": ..}` and, for simplejwt errors, `"code"` (and `"messages"`).
    Detail {
        /// HTTP status.
        status: u16,
        /// The `detail` text.
        detail: String,
        /// simplejwt's `code`, when the upstream body has one.
        code: Option<&'static str>,
        /// simplejwt's `messages` list on header-token failures.
        messages: Option<Value>,
    },
    /// 400 with a bare JSON list of one message: djoser raises some errors with `self.fail(..)`
    /// outside `is_valid()`, and DRF renders such a ValidationError as a list.
    Bare(String),
    /// 400 whose body is one bare JSON string (djoser.social's redirect_uri refusal).
    BareString(String),
    /// 400 with no body and no Content-Type (djoser's `Response(status=400)`).
    EmptyBadRequest,
    /// 400 `{"non_field_errors": "WebAuthn verification failed."}`: djoser's webauthn views
    /// build this body by hand, with a string where DRF would put a list.
    WebauthnFailed,
    /// 400 JSON parse error with the parser's explanation.
    Parse(String),
    /// 415 for a body of another media type.
    UnsupportedMediaType(String),
    /// 405 naming the method.
    MethodNotAllowed(String),
    /// 413 body over the limit.
    PayloadTooLarge,
    /// 429 with `Retry-After`.
    Throttled {
        /// Seconds until a retry can succeed.
        wait: i64,
    },
    /// 500 whose cause is logged and never shown.
    Internal(String),
    /// 500 because the deployment is misconfigured; the text names the key (never its value).
    Config(String),
}

impl ApiError {
    /// 400 `{"<field>": [message]}`.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.add(field, message);
        ApiError::Fields(errors)
    }

    /// 400 `{"non_field_errors": [message]}`.
    pub fn non_field(message: impl Into<String>) -> Self {
        Self::field("non_field_errors", message)
    }

    /// `{"detail": message}` with a status.
    pub fn detail(status: u16, message: impl Into<String>) -> Self {
        ApiError::Detail {
            status,
            detail: message.into(),
            code: None,
            messages: None,
        }
    }

    /// simplejwt's `{"detail", "code"}` with a status.
    pub fn coded(status: u16, message: impl Into<String>, code: &'static str) -> Self {
        ApiError::Detail {
            status,
            detail: message.into(),
            code: Some(code),
            messages: None,
        }
    }

    /// 401 NOCREDS.
    pub fn not_authenticated() -> Self {
        Self::detail(401, msg::NOT_AUTHENTICATED)
    }

    /// 404 `{"detail":"Not found."}`.
    pub fn not_found() -> Self {
        Self::detail(404, msg::NOT_FOUND)
    }

    /// 403 permission denied.
    pub fn permission_denied() -> Self {
        Self::detail(403, msg::PERMISSION_DENIED)
    }

    /// 403 `{"detail": "CSRF Failed: <reason>"}` (DRF's SessionAuthentication wording).
    pub fn csrf_failed(reason: &str) -> Self {
        Self::detail(403, format!("{}{reason}", msg::CSRF_FAILED))
    }

    /// 401 `{"detail": <simplejwt message>, "code": "token_not_valid"}` (jwt/refresh, jwt/verify).
    pub fn token_not_valid(message: &str) -> Self {
        Self::coded(401, message, "token_not_valid")
    }

    /// 500 with a cause that is logged, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Fields(_)
            | ApiError::Parse(_)
            | ApiError::Bare(_)
            | ApiError::EmptyBadRequest
            | ApiError::WebauthnFailed
            | ApiError::BareString(_) => 400,
            ApiError::Detail { status, .. } => *status,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::PayloadTooLarge => 413,
            ApiError::Throttled { .. } => 429,
            ApiError::Internal(_) | ApiError::Config(_) => 500,
        }
    }

    /// The JSON body, in DRF's shape.
    pub fn body(&self) -> Value {
        match self {
            ApiError::Fields(errors) => errors.to_json(),
            ApiError::Detail {
                detail,
                code,
                messages,
                ..
            } => {
                let mut map = Map::new();
                map.insert("detail".into(), json!(detail));
                if let Some(code) = code {
                    map.insert("code".into(), json!(code));
                }
                if let Some(messages) = messages {
                    map.insert("messages".into(), messages.clone());
                }
                Value::Object(map)
            }
            ApiError::Bare(message) => json!([message]),
            ApiError::BareString(message) => json!(message),
            ApiError::EmptyBadRequest => Value::Null,
            ApiError::WebauthnFailed => json!({ "non_field_errors": msg::WEBAUTHN_FAILED }),
            ApiError::Parse(reason) => json!({ "detail": format!("JSON parse error - {reason}") }),
            ApiError::UnsupportedMediaType(media) => {
                json!({ "detail": format!("Unsupported media type \"{media}\" in request.") })
            }
            ApiError::MethodNotAllowed(method) => {
                json!({ "detail": format!("Method \"{method}\" not allowed.") })
            }
            ApiError::PayloadTooLarge => json!({ "detail": msg::BODY_TOO_LARGE }),
            ApiError::Throttled { wait } => json!({
                "detail": format!("Request was throttled. Expected available in {wait} second{}.",
                    if *wait == 1 { "" } else { "s" })
            }),
            ApiError::Internal(_) => json!({ "detail": msg::SERVER_ERROR }),
            ApiError::Config(problem) => {
                json!({ "detail": format!("Service misconfigured: {problem}") })
            }
        }
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        ApiError::Fields(errors)
    }
}

/// The configuration error of a deployment without SIGNING_KEY.
pub fn missing_signing_key() -> ApiError {
    ApiError::Config(
        "SIGNING_KEY is not set; set it with `wrangler secret put SIGNING_KEY` (32+ random bytes)"
            .into(),
    )
}

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> Self {
        match failure {
            AuthFailure::InvalidAccessToken(error) => ApiError::Detail {
                status: 401,
                detail: msg::TOKEN_NOT_VALID_ANY_TYPE.into(),
                code: Some("token_not_valid"),
                messages: Some(json!([{
                    "token_class": "AccessToken",
                    "token_type": "access",
                    "message": error.message(),
                }])),
            },
            AuthFailure::NoUserIdentification => {
                ApiError::coded(401, msg::NO_USER_IDENTIFICATION, "token_not_valid")
            }
            AuthFailure::UserNotFound => {
                ApiError::coded(401, msg::USER_NOT_FOUND, "user_not_found")
            }
            AuthFailure::UserInactive => ApiError::coded(401, msg::USER_INACTIVE, "user_inactive"),
            AuthFailure::PasswordChanged => {
                ApiError::coded(401, msg::PASSWORD_CHANGED, "password_changed")
            }
            AuthFailure::InvalidTokenKey => ApiError::detail(401, msg::INVALID_TOKEN_KEY),
            AuthFailure::TokenUserInactive => ApiError::detail(401, msg::TOKEN_USER_INACTIVE),
            AuthFailure::SessionEnded => {
                ApiError::coded(401, msg::TOKEN_BLACKLISTED, "token_not_valid")
            }
        }
    }
}

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> Self {
        match e {
            FlowError::Fields(errors) => ApiError::Fields(errors),
            FlowError::Bare(message) => ApiError::Bare(message.into()),
            FlowError::BareString(message) => ApiError::BareString(message.into()),
            FlowError::ProviderNotSupported(name) => {
                ApiError::detail(404, format!("Provider '{name}' not supported"))
            }
            FlowError::ActivationOff => ApiError::EmptyBadRequest,
            FlowError::WebauthnFailed => ApiError::WebauthnFailed,
            FlowError::StaleToken => ApiError::detail(403, msg::STALE_TOKEN),
            FlowError::NoActiveAccount => ApiError::detail(401, msg::NO_ACTIVE_ACCOUNT),
            FlowError::NoActiveAccountForToken => {
                ApiError::detail(401, msg::NO_ACTIVE_ACCOUNT_FOR_TOKEN)
            }
            FlowError::TokenNotValid(message) => ApiError::token_not_valid(message),
            FlowError::Unauthenticated(failure) => failure.into(),
            FlowError::NotAuthenticated => ApiError::not_authenticated(),
            FlowError::NotFound => ApiError::not_found(),
            FlowError::NoSuchUser => ApiError::detail(404, msg::NO_USER_MATCHES),
            FlowError::PermissionDenied => ApiError::permission_denied(),
            FlowError::Throttled { wait } => ApiError::Throttled { wait },
            FlowError::MissingSigningKey => missing_signing_key(),
            FlowError::Storage(e) => ApiError::internal(e),
            FlowError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_keep_insertion_order_and_group_by_field() {
        let mut e = FieldErrors::new();
        e.add("username", msg::REQUIRED);
        e.add("password", msg::REQUIRED);
        e.add("username", "second");
        let body = serde_json::to_string(&ApiError::from(e).body()).unwrap();
        assert_eq!(
            body,
            r#"{"username":["This field is required.","second"],"password":["This field is required."]}"#
        );
    }

    #[test]
    fn simplejwt_bodies_carry_code_only_when_given() {
        let body =
            serde_json::to_string(&ApiError::token_not_valid("Token is invalid").body()).unwrap();
        assert_eq!(
            body,
            r#"{"detail":"Token is invalid","code":"token_not_valid"}"#
        );
        let body =
            serde_json::to_string(&ApiError::detail(401, msg::NO_ACTIVE_ACCOUNT).body()).unwrap();
        assert_eq!(
            body,
            r#"{"detail":"No active account found with the given credentials"}"#
        );
    }

    #[test]
    fn throttle_message_is_drf_text() {
        assert_eq!(
            ApiError::Throttled { wait: 1 }.body()["detail"],
            "Request was throttled. Expected available in 1 second."
        );
        assert_eq!(ApiError::Throttled { wait: 30 }.status(), 429);
    }

    #[test]
    fn internal_errors_never_show_their_cause() {
        let e = ApiError::internal("D1_ERROR: no such table: users");
        assert_eq!(e.status(), 500);
        assert!(!e.body().to_string().contains("users"));
    }
}

/// Property tests of the hostile-input edge, where no client input may cause a panic or a 500:
/// whatever bytes, media type or Authorization header arrive, parsing never panics and every
/// failure is a djoser-shaped 4xx.
#[cfg(test)]
mod props {
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    use super::{ApiError, FieldErrors};
    use crate::http::body::Body;
    use crate::http::extract::{parse_authorization, Credentials};

    /// djoser's error shapes: `{"detail": ...}` with at most `code` and `messages` beside it,
    /// or a non-empty object of non-empty lists of strings (field and non_field_errors).
    fn djoser_shaped(body: &Value) -> bool {
        let Some(map) = body.as_object() else {
            return false;
        };
        if let Some(detail) = map.get("detail") {
            return detail.is_string()
                && map
                    .keys()
                    .all(|k| ["detail", "code", "messages"].contains(&k.as_str()));
        }
        !map.is_empty()
            && map.values().all(|v| {
                v.as_array()
                    .is_some_and(|l| !l.is_empty() && l.iter().all(Value::is_string))
            })
    }

    fn assert_client_error(e: &ApiError) -> Result<(), TestCaseError> {
        prop_assert!((400..500).contains(&e.status()), "status {}", e.status());
        let body = e.body();
        prop_assert!(djoser_shaped(&body), "body {body}");
        prop_assert!(serde_json::to_vec(&body).is_ok());
        Ok(())
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            ".{0,20}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-z_]{0,8}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    fn media_type() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            Just(Some("application/json".to_string())),
            Just(Some("application/x-www-form-urlencoded".to_string())),
            Just(Some("multipart/form-data; boundary=XyZ".to_string())),
            Just(Some("multipart/form-data".to_string())),
            "[ -~]{0,40}".prop_map(Some),
            ".{0,40}".prop_map(Some),
        ]
    }

    const FIELDS: [&str; 6] = ["username", "password", "email", "uid", "token", ""];

    /// Every way a handler reads a field, on one body.
    fn read_every_field(body: &Body) {
        let mut errors = FieldErrors::new();
        for name in FIELDS {
            let _ = body.has(name);
            let _ = body.raw(name);
            let _ = body.required(name, &mut errors);
            let _ = body.required_max(name, 4096, &mut errors);
            let _ = body.optional(name, &mut errors);
            let _ = body.text(name, true, &mut errors);
        }
        let _ = ApiError::from(errors).body();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn any_bytes_under_any_media_type_parse_or_fail_as_a_4xx(
            ct in media_type(), bytes in prop::collection::vec(any::<u8>(), 0..400),
        ) {
            match Body::parse(ct.as_deref(), &bytes) {
                Ok(body) => read_every_field(&body),
                Err(e) => assert_client_error(&e)?,
            }
        }

        #[test]
        fn any_json_value_parses_or_fails_as_a_4xx(value in json_value()) {
            let bytes = serde_json::to_vec(&value).unwrap();
            match Body::parse(Some("application/json"), &bytes) {
                Ok(body) => {
                    prop_assert!(value.is_object());
                    read_every_field(&body);
                }
                Err(e) => {
                    prop_assert!(!value.is_object());
                    assert_client_error(&e)?;
                }
            }
        }

        #[test]
        fn truncated_or_mutated_json_never_panics(
            value in json_value(), cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(), byte in any::<u8>(),
        ) {
            let mut bytes = serde_json::to_vec(&value).unwrap();
            if !bytes.is_empty() {
                let i = flip.index(bytes.len());
                bytes[i] = byte;
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            match Body::parse(Some("application/json"), &bytes) {
                Ok(body) => read_every_field(&body),
                Err(e) => assert_client_error(&e)?,
            }
        }

        #[test]
        fn hostile_escapes_and_nesting_never_panic(
            escape in prop_oneof![
                Just("\\ud800".to_string()), Just("\\udfff".to_string()),
                Just("\\ud800\\udc00".to_string()), Just("\\u0000".to_string()),
                "\\\\u[0-9a-fA-F]{4}",
            ],
            depth in 0usize..3000,
        ) {
            let doc = format!("{}{{\"password\":\"a{escape}b\"}}{}", "[".repeat(depth), "]".repeat(depth));
            match Body::parse(Some("application/json"), doc.as_bytes()) {
                Ok(body) => read_every_field(&body),
                Err(e) => assert_client_error(&e)?,
            }
        }

        #[test]
        fn any_authorization_header_is_credentials_or_a_401(header in prop_oneof![
            ".{0,80}",
            "(Bearer|JWT|Token|token|bearer|Basic)[ \t]{0,3}[ -~]{0,60}",
        ]) {
            let words = ["Bearer".to_string(), "JWT".to_string()];
            match parse_authorization(Some(&header), &words) {
                Ok(Credentials::None) => {}
                Ok(Credentials::Jwt(t)) | Ok(Credentials::Token(t)) => {
                    prop_assert!(!t.is_empty() && !t.contains(' '));
                }
                Err(e) => {
                    prop_assert_eq!(e.status(), 401);
                    prop_assert!(djoser_shaped(&e.body()));
                }
            }
        }

        #[test]
        fn throttle_messages_never_panic(wait in any::<i64>()) {
            let e = ApiError::Throttled { wait };
            prop_assert_eq!(e.status(), 429);
            prop_assert!(djoser_shaped(&e.body()));
        }
    }

    #[test]
    fn every_client_error_variant_is_djoser_shaped_and_internal_ones_are_opaque() {
        let client = [
            ApiError::field("email", "x"),
            ApiError::non_field("x"),
            ApiError::detail(403, "x"),
            ApiError::token_not_valid("Token is invalid"),
            ApiError::Parse("x".into()),
            ApiError::UnsupportedMediaType("text/plain".into()),
            ApiError::MethodNotAllowed("GET".into()),
            ApiError::PayloadTooLarge,
            ApiError::Throttled { wait: 5 },
        ];
        for e in &client {
            assert!((400..500).contains(&e.status()));
            assert!(djoser_shaped(&e.body()), "{:?}", e.body());
        }
        let internal = ApiError::internal("D1_ERROR: no such table: users: SQLITE_ERROR");
        assert_eq!(internal.status(), 500);
        assert_eq!(
            internal.body().to_string(),
            r#"{"detail":"A server error occurred."}"#
        );
    }
}
