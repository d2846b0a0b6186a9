//! Validated user-facing values and the user record.

pub mod email;
pub mod event;
pub mod oidc;
pub mod password;
pub mod profile;
pub mod rs256;
pub mod totp;
pub mod user;
pub mod username;
pub mod webauthn;
