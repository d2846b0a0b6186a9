//! Throttling: fixed-window counters in D1, per client IP and per account or e-mail address.
//!
//! D1 is the arbiter because the counts must be exact across concurrent requests (an upsert that
//! increments is atomic); KV's eventual consistency would let a burst through. RATE_LIMITS=off
//! switches every throttle off for local load tests.

use crate::config::RateLimit;
use crate::error::ApiError;
use crate::http::Ctx;

/// Which limit applies.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// jwt/create, token/login, and password checks on set_password / users/me DELETE.
    Login,
    /// Registration.
    Register,
    /// Requests that send an e-mail to an address given in the body.
    Email,
    /// Confirm endpoints (activation, reset confirms), guarded against token guessing.
    Confirm,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Login => "login",
            Scope::Register => "register",
            Scope::Email => "email",
            Scope::Confirm => "confirm",
        }
    }

    fn limit(self, ctx: &Ctx) -> RateLimit {
        let s = ctx.settings;
        match self {
            Scope::Login => s.rate_limit_login,
            Scope::Register => s.rate_limit_register,
            Scope::Email => s.rate_limit_email,
            Scope::Confirm => s.rate_limit_confirm,
        }
    }
}

/// Seconds to wait when `hits` exceed the limit in the window starting at `window_start`.
pub fn wait_for(limit: RateLimit, hits: i64, window_start: i64, now: i64) -> Option<i64> {
    (hits > i64::from(limit.count)).then(|| (window_start + limit.window - now).max(1))
}

/// Counts this request against the client IP and, when given, the account or address `subject`;
/// 429 with the DRF message when either is over its limit.
pub async fn check(ctx: &Ctx, scope: Scope, subject: Option<&str>) -> Result<(), ApiError> {
    if !ctx.settings.rate_limits {
        return Ok(());
    }
    let limit = scope.limit(ctx);
    let window_start = ctx.now - ctx.now.rem_euclid(limit.window);
    let mut keys = vec![format!("{}:ip:{}", scope.name(), ctx.client_ip)];
    if let Some(subject) = subject.filter(|s| !s.is_empty()) {
        keys.push(format!(
            "{}:subject:{}",
            scope.name(),
            subject.to_lowercase()
        ));
    }
    let counts = ctx
        .store
        .hit(&keys, window_start, window_start + limit.window)
        .await
        .map_err(ApiError::internal)?;
    let wait = counts
        .into_iter()
        .filter_map(|hits| wait_for(limit, hits, window_start, ctx.now))
        .max();
    match wait {
        Some(wait) => Err(ApiError::Throttled { wait }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_within_the_limit_pass() {
        let limit = RateLimit {
            count: 3,
            window: 60,
        };
        assert_eq!(wait_for(limit, 3, 120, 130), None);
    }

    #[test]
    fn hits_over_the_limit_wait_for_the_window_end() {
        let limit = RateLimit {
            count: 3,
            window: 60,
        };
        assert_eq!(wait_for(limit, 4, 120, 130), Some(50));
        assert_eq!(wait_for(limit, 4, 120, 179), Some(1));
    }
}
