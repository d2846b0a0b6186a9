//! The failure reasons of decoding and checking a token, with simplejwt's messages.

use std::fmt;

/// The failure reasons simplejwt distinguishes. All of them are `token_not_valid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwtError {
    /// Malformed, wrongly signed, wrong algorithm, wrong claim types, `iat`/`nbf` in the future.
    Invalid,
    /// `exp <= now - leeway`.
    Expired,
    /// No `exp` claim.
    NoExp,
    /// No `jti` claim.
    NoId,
    /// No `token_type` claim where a type is expected.
    NoType,
    /// `token_type` is not the expected one.
    WrongType,
}

impl JwtError {
    /// The exact simplejwt message (the `detail` of the 401 body).
    pub fn message(&self) -> &'static str {
        match self {
            JwtError::Invalid => "Token is invalid",
            JwtError::Expired => "Token is expired",
            JwtError::NoExp => "Token has no 'exp' claim",
            JwtError::NoId => "Token has no id",
            JwtError::NoType => "Token has no type",
            JwtError::WrongType => "Token has wrong type",
        }
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for JwtError {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn error_messages_are_simplejwt_texts() {
        let cases = [
            (JwtError::Invalid, "Token is invalid"),
            (JwtError::Expired, "Token is expired"),
            (JwtError::NoExp, "Token has no 'exp' claim"),
            (JwtError::NoId, "Token has no id"),
            (JwtError::NoType, "Token has no type"),
            (JwtError::WrongType, "Token has wrong type"),
        ];
        for (error, text) in cases {
            assert_eq!(error.message(), text);
            assert_eq!(error.to_string(), text);
        }
    }
}
