//! Throttling: fixed-window counters in D1, per client IP and per account or e-mail address.
//!
//! D1 is the arbiter because the counts must be exact across concurrent requests (an upsert that
//! increments is atomic); KV's eventual consistency would let a burst through. RATE_LIMITS=off
//! switches every throttle off for local load tests.
//!
//! Every counted request counts against two keys: the client (its IPv4 address, or its IPv6 /64,
//! since one IPv6 client owns a whole /64) and the subject it is about (the login name, the user,
//! the target address, or the uid of an e-mailed link). The subject key is what stops an attacker
//! who rotates addresses: guesses at one account, or mail to one address, stay capped.

use std::net::{IpAddr, Ipv6Addr};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::RateLimit;
use crate::domain::user::User;
use crate::error::ApiError;
use crate::http::Ctx;
use crate::storage::d1::{Conflicts, UserLookup};
use crate::tokens::auth_token::hex;
use crate::tokens::one_time;

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

/// Subjects longer than this are stored as their SHA-256, so a hostile login name cannot make
/// the counter key (a D1 primary key) large.
const MAX_PLAIN_SUBJECT: usize = 128;

/// Seconds to wait when `hits` exceed the limit in the window starting at `window_start`.
pub fn wait_for(limit: RateLimit, hits: i64, window_start: i64, now: i64) -> Option<i64> {
    (hits > i64::from(limit.count)).then(|| {
        window_start
            .saturating_add(limit.window)
            .saturating_sub(now)
            .max(1)
    })
}

/// The counter key part for a client address: an IPv4 address as is, an IPv6 address reduced to
/// its /64 (an IPv4-mapped one to its IPv4 address), anything unparsable hashed.
pub fn client_key(client_ip: &str) -> String {
    match client_ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
        Err(_) => subject_key(client_ip),
    }
}

/// The counter key part for a subject: case-folded (e-mail addresses and login names differ only
/// in case for the same person), hashed when long.
pub fn subject_key(subject: &str) -> String {
    let folded = subject.trim().to_lowercase();
    if folded.len() <= MAX_PLAIN_SUBJECT {
        folded
    } else {
        format!("sha256:{}", hex(&Sha256::digest(folded.as_bytes())))
    }
}

/// The subject a scope implies when the handler names none: the user an e-mailed uid decodes to
/// (every spelling of one uid counts alike), or the e-mail address being registered. A body that
/// does not parse implies nothing; the request fails on it anyway.
fn implied_subject(ctx: &Ctx, scope: Scope) -> Option<String> {
    let field = match scope {
        Scope::Confirm => "uid",
        Scope::Register => "email",
        Scope::Login | Scope::Email => return None,
    };
    let body = ctx.body().ok()?;
    let raw = match body.raw(field)? {
        Value::String(s) => s.clone(),
        _ => return None,
    };
    match scope {
        Scope::Confirm => one_time::decode_uid(&raw).map(|id| format!("user:{id}")),
        _ => Some(raw).filter(|s| !s.trim().is_empty()),
    }
}

/// The counters one request adds to, and the window they count in.
struct Plan {
    limit: RateLimit,
    keys: Vec<String>,
    window_start: i64,
}

impl Plan {
    fn expires(&self) -> i64 {
        self.window_start.saturating_add(self.limit.window)
    }

    /// 429 with DRF's message and `Retry-After` when any counter is over the limit.
    fn verdict(&self, counts: Vec<i64>, now: i64) -> Result<(), ApiError> {
        let wait = counts
            .into_iter()
            .filter_map(|hits| wait_for(self.limit, hits, self.window_start, now))
            .max();
        match wait {
            Some(wait) => Err(ApiError::Throttled { wait }),
            None => Ok(()),
        }
    }
}

/// The counters for this request: the client IP and the account or address `subject` (or the
/// one the scope implies). `None` when throttling is off.
fn plan(ctx: &Ctx, scope: Scope, subject: Option<&str>) -> Option<Plan> {
    if !ctx.settings.rate_limits {
        return None;
    }
    let limit = scope.limit(ctx);
    let window_start = ctx.now - ctx.now.rem_euclid(limit.window);
    let mut keys = vec![format!(
        "{}:ip:{}",
        scope.name(),
        client_key(&ctx.client_ip)
    )];
    let subject = match subject.filter(|s| !s.trim().is_empty()) {
        Some(s) => Some(s.to_string()),
        None => implied_subject(ctx, scope),
    };
    if let Some(subject) = subject {
        keys.push(format!(
            "{}:subject:{}",
            scope.name(),
            subject_key(&subject)
        ));
    }
    Some(Plan {
        limit,
        keys,
        window_start,
    })
}

/// Counts this request against the client IP and the account or address `subject` (or the one
/// the scope implies); 429 with DRF's message and `Retry-After` when either is over its limit.
pub async fn check(ctx: &Ctx, scope: Scope, subject: Option<&str>) -> Result<(), ApiError> {
    let Some(plan) = plan(ctx, scope, subject) else {
        return Ok(());
    };
    let counts = ctx
        .store
        .hit(&plan.keys, plan.window_start, plan.expires())
        .await
        .map_err(ApiError::internal)?;
    plan.verdict(counts, ctx.now)
}

/// `check`, and the user `lookup` names, in one D1 round trip. The throttle decides first: a
/// throttled request never sees the user.
pub async fn check_and_find_user(
    ctx: &Ctx,
    scope: Scope,
    subject: Option<&str>,
    lookup: UserLookup<'_>,
) -> Result<Option<User>, ApiError> {
    let Some(plan) = plan(ctx, scope, subject) else {
        return ctx
            .store
            .find_user(lookup)
            .await
            .map_err(ApiError::internal);
    };
    let (counts, user) = ctx
        .store
        .hit_and_find_user(&plan.keys, plan.window_start, plan.expires(), lookup)
        .await
        .map_err(ApiError::internal)?;
    plan.verdict(counts, ctx.now)?;
    Ok(user)
}

/// `check`, and registration's uniqueness query, in one D1 round trip.
pub async fn check_and_conflicts(
    ctx: &Ctx,
    scope: Scope,
    username: Option<&str>,
    email: Option<&str>,
) -> Result<Conflicts, ApiError> {
    let Some(plan) = plan(ctx, scope, None) else {
        return ctx
            .store
            .conflicts(username, email)
            .await
            .map_err(ApiError::internal);
    };
    let (counts, conflicts) = ctx
        .store
        .hit_and_conflicts(
            &plan.keys,
            plan.window_start,
            plan.expires(),
            username,
            email,
        )
        .await
        .map_err(ApiError::internal)?;
    plan.verdict(counts, ctx.now)?;
    Ok(conflicts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMIT: RateLimit = RateLimit {
        count: 3,
        window: 60,
    };

    #[test]
    fn hits_within_the_limit_pass() {
        assert_eq!(wait_for(LIMIT, 3, 120, 130), None);
    }

    #[test]
    fn hits_over_the_limit_wait_for_the_window_end() {
        assert_eq!(wait_for(LIMIT, 4, 120, 130), Some(50));
        assert_eq!(wait_for(LIMIT, 4, 120, 179), Some(1));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_ipv4_as_is() {
        assert_eq!(client_key("203.0.113.7"), "203.0.113.7");
        assert_eq!(client_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            client_key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            client_key("2001:0db8:0001:0002::")
        );
        assert_ne!(client_key("2001:db8:1:2::"), client_key("2001:db8:1:3::"));
        assert_eq!(client_key("::ffff:203.0.113.7"), "203.0.113.7");
    }

    #[test]
    fn unparsable_client_addresses_are_bounded() {
        let key = client_key(&"x".repeat(10_000));
        assert!(key.len() <= MAX_PLAIN_SUBJECT + 8);
        assert_eq!(client_key("unknown"), "unknown");
    }

    #[test]
    fn subjects_are_case_folded_and_long_ones_hashed() {
        assert_eq!(subject_key("Alice@Example.COM"), "alice@example.com");
        let long = "a".repeat(5000);
        let key = subject_key(&long);
        assert!(key.starts_with("sha256:") && key.len() == 7 + 64);
        assert_ne!(key, subject_key(&"a".repeat(5001)));
    }

    proptest! {
        #[test]
        fn wait_is_within_the_window_and_never_overflows(
            hits in any::<i64>(), now in -1_000_000_000_000i64..1_000_000_000_000,
            count in 1u32..10_000, window in 1i64..1_000_000,
        ) {
            let limit = RateLimit { count, window };
            let start = now - now.rem_euclid(window);
            if let Some(wait) = wait_for(limit, hits, start, now) {
                prop_assert!((1..=window).contains(&wait));
            }
        }

        #[test]
        fn keys_never_panic_and_stay_bounded(raw in ".{0,300}") {
            prop_assert!(client_key(&raw).len() <= 4 * MAX_PLAIN_SUBJECT);
            prop_assert!(subject_key(&raw).len() <= 4 * MAX_PLAIN_SUBJECT);
        }
    }
}
