//! simplejwt-compatible access and refresh tokens (HS256, ES256 or EdDSA JWTs).
//!
//! This module owns the JWT wire format of `rest_framework_simplejwt` 5.5.1 as decoded by
//! PyJWT 2.15.1: the exact header, the claim names and order, the validation order and the
//! six failure reasons simplejwt reports, each with its exact message.
//!
//! It must not:
//! - read a clock: `now` (Unix seconds) and the leeway are parameters, because
//!   `SystemTime::now()` does not work on wasm32 and tests need a fixed clock;
//! - trust anything in a token before its signature has been checked with a configured key.
//!   The header is parsed first only to pin `alg` and, for ES256 and EdDSA, to pick one of the
//!   configured keys by `kid`; `jku`, `x5u`, `jwk` and friends are never used: the algorithm
//!   is pinned and the key is always a configured one;
//! - panic or overflow on any input, however extreme its claims: a panic kills the wasm
//!   instance and every request in flight with it;
//! - look at the blacklist, the user table or HTTP: callers do that between [`decode`] and
//!   [`check_claims`], in simplejwt's order.
//!
//! The module is split by concern:
//! - `claims`: [`Claims`], [`TokenType`], building claims for new, derived and rotated
//!   tokens, their serialisation in simplejwt's order, and the checks of registered claims;
//! - `codec`: [`encode`] and [`decode`]: the compact format, base64url, the header checks and
//!   strict JSON parsing;
//! - `keys`: [`JwtKeys`] and [`AsymmetricKeys`], the one place that knows which algorithm and
//!   which key sign and verify;
//! - `error`: [`JwtError`], the failure reasons shared by all of them.

mod claims;
mod codec;
mod error;
mod keys;
#[cfg(test)]
mod test_support;

pub use claims::{
    access_from_refresh, check_claims, new_claims, rotate_refresh, Claims, TokenType,
};
pub use codec::{decode, encode, MAX_TOKEN_LEN};
pub use error::JwtError;
pub use keys::{thumbprint, AsymmetricKeys, JwtAlgorithm, JwtKeys, KeyState};
