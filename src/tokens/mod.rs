//! Tokens: JWTs, e-mailed one-time tokens, DRF auth-token keys and password hashes.

pub mod auth_token;
pub mod jwt;
pub mod one_time;
pub mod password_hash;
pub mod seal;
