//! ApiError: every failure a request can end in, and its DRF/djoser/simplejwt JSON body.
//!
//! This is the only module that knows status codes and error body shapes. Handlers return
//! `Result<_, ApiError>` and use `?`; the http layer turns the error into a response once.

use serde_json::{json, Map, Value};

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

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `field` has at least one message.
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
            ApiError::Fields(_) | ApiError::Parse(_) => 400,
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
