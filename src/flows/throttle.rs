//! Throttling policy: fixed-window counters, per client and per subject (the account or address
//! a request is about). The scopes, keys and verdicts are pure; the counters live behind
//! [`ThrottleStore`], which must count exactly across concurrent requests (D1's atomic upsert
//! does; KV's eventual consistency would let a burst through). RATE_LIMITS=off switches every
//! throttle off for local load tests.
//!
//! The client key is its IPv4 address, or its IPv6 /64, since one IPv6 client owns a whole /64.
//! The subject key is what stops an attacker who rotates addresses: guesses at one account, or
//! mail to one address, stay capped. A subject is keyed by its kind and by the case rules of the
//! identity it names ([`Subject`]), so that a login name, a user id and an address never share a
//! counter, and two accounts that differ only in case never do either.
//!
//! Password checks (logins, and the current-password checks of a signed-in user) count every
//! attempt per client, but per account only their failures: once per account and client,
//! capped like the client, and once per account from all clients together, with a looser cap
//! (RATE_LIMIT_LOGIN_ACCOUNT). So a guesser at one client is stopped without locking the owner
//! out at another, a guesser with many addresses stays bounded, and the owner's own correct
//! passwords never count against them. The failure counters are read with the look-up, before
//! the password is checked, and written only after a failed check.

use std::net::{IpAddr, Ipv6Addr};

use sha2::{Digest, Sha256};

use crate::config::{RateLimit, Settings};
use crate::domain::event::EventKind;
use crate::domain::user::{email_key, User};
use crate::flows::{Cx, FlowError};
use crate::storage::{
    Conflicts, Counter, Counts, Hit, RefreshArbiter, RefreshState, StorageError, ThrottleStore,
    UserLookup,
};
use crate::tokens::auth_token::hex;

/// Which limit applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// jwt/create, token/login, and the current-password checks of set_password, set_username
    /// and users/me DELETE.
    Login,
    /// Registration.
    Register,
    /// Requests that send an e-mail to an address given in the body.
    Email,
    /// Confirm endpoints (activation, reset confirms), guarded against token guessing.
    Confirm,
    /// jwt/refresh with a validly signed token: each one writes a spent jti and a record.
    Refresh,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Login => "login",
            Scope::Register => "register",
            Scope::Email => "email",
            Scope::Confirm => "confirm",
            Scope::Refresh => "refresh",
        }
    }

    fn limit(self, s: &Settings) -> RateLimit {
        match self {
            Scope::Login => s.rate_limit_login,
            Scope::Register => s.rate_limit_register,
            Scope::Email => s.rate_limit_email,
            Scope::Confirm => s.rate_limit_confirm,
            Scope::Refresh => s.rate_limit_refresh,
        }
    }
}

/// Key parts longer than this are stored as their SHA-256, so a hostile login name cannot make
/// the counter key (a D1 primary key) large.
const MAX_PLAIN_SUBJECT: usize = 128;

/// What a request is about: the account or address its subject counter is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// A user by primary key (the current-password checks of a signed-in user).
    UserId(i64),
    /// A login name as sent: case-sensitive, as Django's username look-up is.
    Username(&'a str),
    /// An e-mail address: case-folded, as the e-mail key the look-up uses.
    Email(&'a str),
}

impl Subject<'_> {
    /// `{kind}:{value}`, the value bounded by [`bounded`]; `None` when it names nobody (a blank
    /// name or address).
    pub fn key(&self) -> Option<String> {
        match *self {
            Subject::UserId(id) => Some(format!("user:{id}")),
            Subject::Username(name) if !name.trim().is_empty() => {
                Some(format!("username:{}", bounded(name)))
            }
            Subject::Email(email) if !email.trim().is_empty() => {
                Some(format!("email:{}", bounded(&email_key(email.trim()))))
            }
            Subject::Username(_) | Subject::Email(_) => None,
        }
    }
}

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
/// its /64 (an IPv4-mapped one to its IPv4 address), anything unparsable bounded.
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
        Err(_) => bounded(client_ip.trim()),
    }
}

/// A key part as is, or `sha256#` and its SHA-256 in hex when it is long or holds a `:` or `#`:
/// a subject's value part never holds a `:`, so `{scope}:{kind}:{value}` keys cannot be spelled
/// two ways, and a plain value can never look like a hashed one.
pub fn bounded(part: &str) -> String {
    if part.len() <= MAX_PLAIN_SUBJECT && !part.contains([':', '#']) {
        part.to_string()
    } else {
        format!("sha256#{}", hex(&Sha256::digest(part.as_bytes())))
    }
}

/// The counters one request adds to, and the window they count in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    limit: RateLimit,
    window_start: i64,
    /// The counters: the client's, then the subject's when there is one, then the failure
    /// counters a password check reads.
    pub hit: Hit,
    /// The limit of each read counter.
    read_limits: Vec<RateLimit>,
}

/// A counter that should have come back and did not: the store is broken, and the request must
/// not pass unthrottled (fail closed).
fn missing_counter() -> FlowError {
    FlowError::Storage(StorageError::Backend(
        "throttle: a counter returned no row".into(),
    ))
}

/// A counter `key` of the window starting at `window_start`.
fn counter(key: String, limit: RateLimit, window_start: i64) -> Counter {
    Counter {
        key,
        window_start,
        expires: window_start.saturating_add(limit.window),
    }
}

impl Plan {
    /// The counters for a request in `scope` from `client` about `subject`; `None` when
    /// throttling is off.
    pub fn new(
        settings: &Settings,
        scope: Scope,
        client: &str,
        subject: Option<Subject<'_>>,
        now: i64,
    ) -> Option<Plan> {
        if !settings.rate_limits {
            return None;
        }
        let limit = scope.limit(settings);
        let window_start = now - now.rem_euclid(limit.window);
        let client = format!("{}:ip:{}", scope.name(), client_key(client));
        let subjects = subject
            .as_ref()
            .and_then(Subject::key)
            .map(|key| counter(format!("{}:{key}", scope.name()), limit, window_start))
            .into_iter()
            .collect();
        Some(Plan {
            limit,
            window_start,
            hit: Hit {
                client: counter(client, limit, window_start),
                client_limit: i64::from(limit.count),
                subjects,
                reads: Vec::new(),
            },
            read_limits: Vec::new(),
        })
    }

    /// The counters of a password check from `client` about `subject`: the client's login
    /// counter counts the attempt; the failure counters of the account from this client
    /// (`login:fail:{subject}:{client}`, RATE_LIMIT_LOGIN) and from everyone
    /// (`login:fail:{subject}`, RATE_LIMIT_LOGIN_ACCOUNT) are only read. `None` when throttling
    /// is off.
    pub fn password_check(
        settings: &Settings,
        client: &str,
        subject: Subject<'_>,
        now: i64,
    ) -> Option<Plan> {
        let mut plan = Plan::new(settings, Scope::Login, client, None, now)?;
        if let Some(subject) = subject.key() {
            let pair = settings.rate_limit_login;
            let account = settings.rate_limit_login_account;
            let start = |limit: RateLimit| now - now.rem_euclid(limit.window);
            let key = format!("{}:fail:{subject}", Scope::Login.name());
            plan.hit.reads = vec![
                counter(format!("{key}:{}", client_key(client)), pair, start(pair)),
                counter(key, account, start(account)),
            ];
            plan.read_limits = vec![pair, account];
        }
        Some(plan)
    }

    /// [`FlowError::Throttled`] with the longest wait when any counter is over its limit (a read
    /// counter when one more failure would be). A client over its limit wrote no subject
    /// counters, so only its own count is looked at; a counter that should have come back and
    /// did not fails closed.
    pub fn verdict(&self, counts: &Counts, now: i64) -> Result<(), FlowError> {
        let client = counts.client.ok_or_else(missing_counter)?;
        let mut hits = vec![client];
        if client <= self.hit.client_limit {
            if counts.subjects.len() != self.hit.subjects.len() {
                return Err(missing_counter());
            }
            for subject in &counts.subjects {
                hits.push(subject.ok_or_else(missing_counter)?);
            }
        }
        let mut wait = hits
            .iter()
            .filter_map(|&hits| wait_for(self.limit, hits, self.window_start, now))
            .max();
        if counts.reads.len() != self.hit.reads.len() {
            return Err(missing_counter());
        }
        for ((read, counter), &limit) in counts
            .reads
            .iter()
            .zip(&self.hit.reads)
            .zip(&self.read_limits)
        {
            // A read counter holds the failures so far: this attempt would be one more.
            let after = read.ok_or_else(missing_counter)?.saturating_add(1);
            wait = wait.max(wait_for(limit, after, counter.window_start, now));
        }
        match wait {
            Some(wait) => Err(FlowError::Throttled { wait }),
            None => Ok(()),
        }
    }

    /// When the account's own counters refuse the request, the start of the refusing counter's
    /// window: its subject counter (which a client over its limit does not write), or one more
    /// failure on a failure counter of the account (which only failed checks of that account
    /// fill). The latest start when several refuse; `None` when none does.
    fn account_over(&self, counts: &Counts) -> Option<i64> {
        let limit = i64::from(self.limit.count);
        let client_over = counts
            .client
            .is_none_or(|hits| hits > self.hit.client_limit);
        let subject_over =
            !client_over && counts.subjects.iter().flatten().any(|&hits| hits > limit);
        let read_over = counts
            .reads
            .iter()
            .zip(&self.read_limits)
            .zip(&self.hit.reads)
            .filter(|((read, limit), _)| read.is_some_and(|n| n >= i64::from(limit.count)))
            .map(|(_, counter)| counter.window_start);
        subject_over
            .then_some(self.window_start)
            .into_iter()
            .chain(read_over)
            .max()
    }

    /// [`Plan::verdict`] of a request about the user `user_id`: when the account's own counters refuse it
    /// (an attack on the account, not one busy client), the refusal goes into the user's event
    /// log, once per window of this limit (the store drops the repeats). A client refused on
    /// its own count records nothing, so a client that sprays many accounts adds no rows.
    fn verdict_about<S>(
        &self,
        cx: &Cx<'_, S>,
        counts: &Counts,
        user_id: Option<i64>,
    ) -> Result<(), FlowError> {
        let verdict = self.verdict(counts, cx.now);
        if let (Err(FlowError::Throttled { .. }), Some(id)) = (&verdict, user_id) {
            if let Some(since) = self.account_over(counts) {
                cx.record_once(EventKind::Throttled, id, since);
            }
        }
        verdict
    }
}

/// Counts this request against the client and `subject`; throttled when either is over.
pub async fn check<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    scope: Scope,
    subject: Option<Subject<'_>>,
) -> Result<(), FlowError> {
    let Some(plan) = Plan::new(cx.settings, scope, cx.client, subject, cx.now) else {
        return Ok(());
    };
    let counts = cx.store.hit(&plan.hit).await?;
    plan.verdict(&counts, cx.now)
}

/// [`check`], then the user `lookup` names, in one storage round trip. The throttle decides
/// first: a throttled request never sees the user.
pub async fn check_and_find_user<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    scope: Scope,
    subject: Option<Subject<'_>>,
    lookup: UserLookup<'_>,
) -> Result<Option<User>, FlowError> {
    let Some(plan) = Plan::new(cx.settings, scope, cx.client, subject, cx.now) else {
        return Ok(cx.store.find_user(lookup).await?);
    };
    let (counts, user) = cx.store.hit_and_find_user(&plan.hit, lookup).await?;
    plan.verdict_about(cx, &counts, user.as_ref().map(|u| u.id))?;
    Ok(user)
}

/// A password check the throttle let through: report its failure with [`Attempt::failed`].
#[derive(Debug)]
#[must_use = "a failed check must be reported with `failed`"]
pub struct Attempt {
    failures: Vec<Counter>,
}

impl Attempt {
    /// Counts the check as failed against the account, from this client and from everyone (one
    /// more storage round trip, on failure only).
    pub async fn failed<S: ThrottleStore>(self, cx: &Cx<'_, S>) -> Result<(), FlowError> {
        if !self.failures.is_empty() {
            cx.store.add_hits(&self.failures).await?;
        }
        Ok(())
    }
}

/// Counts a password check of `subject` against the client and reads the account's failure
/// counters, in one storage round trip; throttled when the client is over its limit or one more
/// failure would put an account counter over its own.
pub async fn password_check<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    subject: Subject<'_>,
) -> Result<Attempt, FlowError> {
    Ok(password_check_and_find_user(cx, subject, None).await?.0)
}

/// [`password_check`], with the user `lookup` names in the same round trip (when there is one).
pub async fn password_check_and_find_user<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    subject: Subject<'_>,
    lookup: Option<UserLookup<'_>>,
) -> Result<(Attempt, Option<User>), FlowError> {
    let Some(plan) = Plan::password_check(cx.settings, cx.client, subject, cx.now) else {
        let user = match lookup {
            Some(lookup) => cx.store.find_user(lookup).await?,
            None => None,
        };
        return Ok((
            Attempt {
                failures: Vec::new(),
            },
            user,
        ));
    };
    let (counts, user) = match lookup {
        Some(lookup) => cx.store.hit_and_find_user(&plan.hit, lookup).await?,
        None => (cx.store.hit(&plan.hit).await?, None),
    };
    let about = match subject {
        Subject::UserId(id) => Some(id),
        _ => user.as_ref().map(|u| u.id),
    };
    plan.verdict_about(cx, &counts, about)?;
    let Plan { hit, .. } = plan;
    Ok((
        Attempt {
            failures: hit.reads,
        },
        user,
    ))
}

/// [`check`] of the client's refresh counter, then the arbiter's state of a refresh token (and
/// its user), in one storage round trip; a throttled refresh sees nothing and spends nothing.
pub async fn check_and_refresh_state<S: ThrottleStore + RefreshArbiter>(
    cx: &Cx<'_, S>,
    jti: &str,
    family: &str,
    user_id: Option<i64>,
) -> Result<(RefreshState, Option<User>), FlowError> {
    let Some(plan) = Plan::new(cx.settings, Scope::Refresh, cx.client, None, cx.now) else {
        return Ok(cx.store.refresh_state(jti, family, user_id).await?);
    };
    let (counts, state, user) = cx
        .store
        .hit_and_refresh_state(&plan.hit, jti, family, user_id)
        .await?;
    plan.verdict(&counts, cx.now)?;
    Ok((state, user))
}

/// [`check`], then registration's uniqueness query, in one storage round trip.
pub async fn check_and_conflicts<S: ThrottleStore>(
    cx: &Cx<'_, S>,
    subject: Option<Subject<'_>>,
    username: Option<&str>,
    email: Option<&str>,
) -> Result<Conflicts, FlowError> {
    let Some(plan) = Plan::new(cx.settings, Scope::Register, cx.client, subject, cx.now) else {
        return Ok(cx.store.conflicts(username, email).await?);
    };
    let (counts, conflicts) = cx
        .store
        .hit_and_conflicts(&plan.hit, username, email)
        .await?;
    plan.verdict(&counts, cx.now)?;
    Ok(conflicts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FieldErrors;
    use crate::flows::links;
    use crate::flows::password::check_current_password;
    use crate::flows::session;
    use crate::flows::testing::{
        cx, cx_at, cx_from, cx_full, settings, user_with_password, CLIENT, NOW,
    };
    use crate::storage::memory::{block_on, MemoryStore};
    use crate::storage::EventStore;
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
    fn subjects_are_keyed_by_kind_so_a_login_name_never_meets_a_user_id() {
        assert_eq!(Subject::UserId(42).key().unwrap(), "user:42");
        assert_eq!(Subject::Username("42").key().unwrap(), "username:42");
        assert_eq!(
            Subject::Email("42@example.com").key().unwrap(),
            "email:42@example.com"
        );
    }

    #[test]
    fn usernames_keep_their_case_and_addresses_are_folded_like_the_email_key() {
        assert_ne!(
            Subject::Username("Alice").key(),
            Subject::Username("alice").key()
        );
        assert_eq!(
            Subject::Email(" Ärger@Example.COM").key().unwrap(),
            "email:ärger@example.com"
        );
        assert_eq!(Subject::Username(" ").key(), None);
        assert_eq!(Subject::Email("").key(), None);
    }

    #[test]
    fn long_values_and_values_with_separators_are_hashed() {
        let long = "a".repeat(5000);
        let key = bounded(&long);
        assert!(key.starts_with("sha256#") && key.len() == 7 + 64);
        assert_ne!(key, bounded(&"a".repeat(5001)));
        // A name holding the separator cannot spell another key's value and client.
        let sneaky = Subject::Username("alice:203.0.113.9").key().unwrap();
        assert!(sneaky.starts_with("username:sha256#"));
        assert_eq!(bounded("sha256#x"), bounded("sha256#x"));
        assert!(bounded("sha256#x").len() == 7 + 64);
    }

    #[test]
    fn a_plan_counts_the_client_and_a_non_blank_subject() {
        let s = settings();
        let plan = Plan::new(
            &s,
            Scope::Login,
            CLIENT,
            Some(Subject::Username("alice")),
            NOW,
        )
        .unwrap();
        assert_eq!(plan.hit.client.key, format!("login:ip:{CLIENT}"));
        let subjects: Vec<_> = plan.hit.subjects.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(subjects, ["login:username:alice"]);
        let plan = Plan::new(&s, Scope::Email, CLIENT, Some(Subject::Email("  ")), NOW).unwrap();
        assert!(plan.hit.subjects.is_empty());
    }

    #[test]
    fn throttling_off_plans_nothing() {
        let s = Settings {
            rate_limits: false,
            ..settings()
        };
        assert_eq!(
            Plan::new(&s, Scope::Login, CLIENT, Some(Subject::UserId(1)), NOW),
            None
        );
    }

    #[test]
    fn the_request_after_the_limit_is_throttled_until_the_window_ends() {
        let s = settings();
        let store = MemoryStore::new();
        let cx = cx(&s, &store);
        let limit = s.rate_limit_login;
        for _ in 0..limit.count {
            block_on(check(&cx, Scope::Login, Some(Subject::Username("alice")))).unwrap();
        }
        let window_end = NOW - NOW.rem_euclid(limit.window) + limit.window;
        assert_eq!(
            block_on(check(&cx, Scope::Login, Some(Subject::Username("alice")))),
            Err(FlowError::Throttled {
                wait: window_end - NOW
            })
        );
    }

    #[test]
    fn a_throttled_look_up_never_returns_the_user() {
        let s = Settings {
            rate_limit_email: RateLimit {
                count: 1,
                window: 60,
            },
            ..settings()
        };
        let store = MemoryStore::new();
        store.put_user(User::for_tests(1, "alice", "a@example.com", "x"));
        let cx = cx(&s, &store);
        let lookup = UserLookup::Email("a@example.com");
        let first = block_on(check_and_find_user(&cx, Scope::Email, None, lookup)).unwrap();
        assert_eq!(first.map(|u| u.id), Some(1));
        let second = block_on(check_and_find_user(&cx, Scope::Email, None, lookup));
        assert!(matches!(second, Err(FlowError::Throttled { .. })));
    }

    /// Fails logins for `login` from a new client each time until one is throttled; how many
    /// were answered.
    fn fail_until_throttled(s: &Settings, store: &MemoryStore, login: &str) -> usize {
        for i in 0..10_000 {
            let client = format!("198.51.{}.{}", i / 256, i % 256);
            let cx = cx_from(s, store, &client);
            match block_on(session::authenticate(&cx, login, "wrong-password")) {
                Err(FlowError::Throttled { .. }) => return i,
                other => assert_eq!(other, Ok(None)),
            }
        }
        panic!("{login} was never throttled");
    }

    #[test]
    fn failed_logins_for_the_username_42_do_not_throttle_user_42s_password_checks() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 42, "alice", "", "secret-pw-1");
        let attacker = cx_from(&s, &store, "198.51.100.1");
        for _ in 0..s.rate_limit_login.count {
            assert_eq!(
                block_on(session::authenticate(&attacker, "42", "wrong")),
                Ok(None)
            );
        }
        assert!(matches!(
            block_on(session::authenticate(&attacker, "42", "wrong")),
            Err(FlowError::Throttled { .. })
        ));
        let mut errors = FieldErrors::new();
        let owner = cx(&s, &store);
        let checked = block_on(check_current_password(
            &owner,
            &me,
            Ok("secret-pw-1".into()),
            &mut errors,
        ));
        assert_eq!(checked, Ok(()));
        assert!(errors.is_empty());
    }

    #[test]
    fn failed_logins_for_alice_do_not_throttle_the_distinct_account_alice_with_a_capital_a() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        user_with_password(&store, &s, 2, "Alice", "", "secret-pw-2");
        fail_until_throttled(&s, &store, "alice");
        let owner = cx_from(&s, &store, "192.0.2.200");
        let found = block_on(session::authenticate(&owner, "Alice", "secret-pw-2"));
        assert_eq!(found.map(|u| u.map(|u| u.id)), Ok(Some(2)));
    }

    fn login_from(
        s: &Settings,
        store: &MemoryStore,
        client: &str,
        login: &str,
        password: &str,
    ) -> Result<Option<i64>, FlowError> {
        let cx = cx_from(s, store, client);
        block_on(session::authenticate(&cx, login, password)).map(|u| u.map(|u| u.id))
    }

    #[test]
    fn fifteen_failures_from_one_client_do_not_stop_the_owner_logging_in_from_another() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        let guesser = "198.51.100.7";
        let mut throttled = 0;
        for _ in 0..15 {
            match login_from(&s, &store, guesser, "alice", "wrong") {
                Ok(None) => {}
                Err(FlowError::Throttled { .. }) => throttled += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(throttled, 15 - s.rate_limit_login.count);
        // The guesser's client is done with this account, even with the right password...
        assert!(matches!(
            login_from(&s, &store, guesser, "alice", "secret-pw-1"),
            Err(FlowError::Throttled { .. })
        ));
        // ...and the owner, elsewhere, is not.
        assert_eq!(
            login_from(&s, &store, "192.0.2.50", "alice", "secret-pw-1"),
            Ok(Some(1))
        );
    }

    #[test]
    fn correct_passwords_never_count_against_the_account() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        for i in 0..3 * s.rate_limit_login.count {
            let client = format!("192.0.2.{i}");
            assert_eq!(
                login_from(&s, &store, &client, "alice", "secret-pw-1"),
                Ok(Some(1))
            );
        }
    }

    #[test]
    fn a_guesser_with_many_addresses_is_capped_per_account() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        let answered = fail_until_throttled(&s, &store, "alice");
        assert_eq!(answered, s.rate_limit_login_account.count as usize);
        // Now the right password is refused too, from anywhere: the cap is no oracle.
        assert!(matches!(
            login_from(&s, &store, "192.0.2.99", "alice", "secret-pw-1"),
            Err(FlowError::Throttled { .. })
        ));
        // Until the account window is over.
        let window = s.rate_limit_login_account.window;
        let later = cx_at(&s, &store, NOW - NOW.rem_euclid(window) + window);
        let found = block_on(session::authenticate(&later, "alice", "secret-pw-1"));
        assert_eq!(found.map(|u| u.map(|u| u.id)), Ok(Some(1)));
    }

    #[test]
    fn an_inactive_accounts_right_password_counts_as_a_failure() {
        let s = settings();
        let store = MemoryStore::new();
        let mut user = user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        user.is_active = false;
        store.put_user(user);
        for _ in 0..s.rate_limit_login.count {
            let found = login_from(&s, &store, CLIENT, "alice", "secret-pw-1");
            assert_eq!(found, Ok(Some(1)));
        }
        let fail_key = format!("login:fail:username:alice:{CLIENT}");
        let row = store.snapshot().throttle[&fail_key];
        assert_eq!(row.hits, i64::from(s.rate_limit_login.count));
    }

    #[test]
    fn a_successful_login_is_one_round_trip_and_a_failed_one_two() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        let calls = |login: &str, password: &str| {
            let before = store.calls.get();
            let _ = login_from(&s, &store, CLIENT, login, password);
            store.calls.get() - before
        };
        assert_eq!(calls("alice", "secret-pw-1"), 1);
        assert_eq!(calls("alice", "wrong"), 2);
        assert_eq!(calls("nobody", "wrong"), 2);
    }

    #[test]
    fn failed_current_password_checks_from_one_client_do_not_block_the_owner_at_another() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        let check = |client: &str, password: &str| {
            let cx = cx_from(&s, &store, client);
            let mut errors = FieldErrors::new();
            block_on(check_current_password(
                &cx,
                &me,
                Ok(password.into()),
                &mut errors,
            ))
            .map(|()| errors.is_empty())
        };
        for _ in 0..s.rate_limit_login.count {
            assert_eq!(check("198.51.100.7", "wrong"), Ok(false));
        }
        assert!(matches!(
            check("198.51.100.7", "secret-pw-1"),
            Err(FlowError::Throttled { .. })
        ));
        for i in 0..3 * s.rate_limit_login.count {
            assert_eq!(check(&format!("192.0.2.{i}"), "secret-pw-1"), Ok(true));
        }
    }

    #[test]
    fn ten_thousand_requests_from_one_throttled_client_add_a_bounded_number_of_rows() {
        let s = settings();
        let store = MemoryStore::new();
        let cx = cx(&s, &store);
        let rows = || store.snapshot().throttle.len();
        // Mail requests and logins, each about a subject never seen before.
        let mail = |i: usize| {
            block_on(links::user_for_email(
                &cx,
                &format!("n{i}@example.com"),
                links::Wanted::Active,
            ))
        };
        let login = |i: usize| block_on(session::authenticate(&cx, &format!("n{i}"), "x"));
        let mut answered = 0;
        for i in 0..10_000 {
            if mail(i).is_ok() {
                answered += 1;
            }
        }
        assert_eq!(answered, s.rate_limit_email.count);
        let after_mail = rows();
        assert_eq!(after_mail, 1 + s.rate_limit_email.count as usize);
        for i in 0..10_000 {
            let _ = login(i);
        }
        let login_rows = rows() - after_mail;
        assert!(
            login_rows <= 1 + 2 * s.rate_limit_login.count as usize,
            "{login_rows} rows"
        );
        // Once throttled, a client adds nothing more, whatever it asks about.
        let before = rows();
        for i in 10_000..10_100 {
            assert!(matches!(mail(i), Err(FlowError::Throttled { .. })));
            assert!(matches!(login(i), Err(FlowError::Throttled { .. })));
        }
        assert_eq!(rows(), before);
    }

    /// The throttled events stored for user 1 after `attempts` failed logins for `login`, each
    /// from the client `client(i)`, every request's events written as the edge writes them.
    fn throttled_events(
        s: &Settings,
        store: &MemoryStore,
        login: &str,
        attempts: usize,
        client: impl Fn(usize) -> String,
        now: i64,
    ) -> usize {
        for i in 0..attempts {
            let client = client(i);
            let cx = cx_full(s, store, now, &client);
            let _ = block_on(session::authenticate(&cx, login, "wrong-password"));
            block_on(store.insert_events(&cx.events.take())).unwrap();
        }
        store
            .snapshot()
            .events
            .iter()
            .filter(|e| e.user_id == 1 && e.kind == EventKind::Throttled)
            .count()
    }

    #[test]
    fn an_account_under_attack_gets_one_throttled_event_per_window() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        let spread = |i: usize| format!("198.51.{}.{}", i / 256, i % 256);
        let cap = s.rate_limit_login_account.count as usize;
        // Up to the cap nothing is refused, so nothing is recorded.
        assert_eq!(throttled_events(&s, &store, "alice", cap, spread, NOW), 0);
        // Then hundreds of refusals in the same window: one event.
        let more = |i: usize| spread(cap + i);
        assert_eq!(throttled_events(&s, &store, "alice", 300, more, NOW), 1);
        // The account's limit refuses, so its window counts: a new window of the client limit
        // (RATE_LIMIT_LOGIN) records nothing more...
        let minute = s.rate_limit_login.window;
        assert!(minute < s.rate_limit_login_account.window);
        let next_minute = NOW - NOW.rem_euclid(minute) + minute;
        assert_eq!(
            throttled_events(&s, &store, "alice", 50, more, next_minute),
            1
        );
        // ...and the account limit's next window, refusing again (its failures are counted
        // anew, so past the cap), records once more.
        let window = s.rate_limit_login_account.window;
        let next = NOW - NOW.rem_euclid(window) + window;
        let again = |i: usize| spread(10_000 + i);
        assert_eq!(
            throttled_events(&s, &store, "alice", cap + 50, again, next),
            2
        );
    }

    #[test]
    fn one_client_guessing_one_account_records_it_once_too() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        let one = |_: usize| "198.51.100.7".to_string();
        assert_eq!(throttled_events(&s, &store, "alice", 40, one, NOW), 1);
    }

    #[test]
    fn a_client_over_its_own_limit_records_nothing_on_the_accounts_it_names() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        let cx = cx(&s, &store);
        // The client spends its limit on other names...
        for i in 0..s.rate_limit_login.count {
            let _ = block_on(session::authenticate(&cx, &format!("n{i}"), "x"));
        }
        // ...then is refused on alice: that is about the client, not about alice.
        assert!(matches!(
            block_on(session::authenticate(&cx, "alice", "x")),
            Err(FlowError::Throttled { .. })
        ));
        block_on(store.insert_events(&cx.events.take())).unwrap();
        assert!(store.snapshot().events.is_empty());
    }

    #[test]
    fn mail_requests_that_exhaust_an_address_record_it_on_its_account() {
        let s = settings();
        let store = MemoryStore::new();
        store.put_user(User::for_tests(1, "alice", "a@example.com", "x"));
        for i in 0..20 {
            let client = format!("198.51.100.{i}");
            let cx = cx_from(&s, &store, &client);
            let _ = block_on(links::user_for_email(
                &cx,
                "A@example.com",
                links::Wanted::Active,
            ));
            block_on(store.insert_events(&cx.events.take())).unwrap();
        }
        let kinds: Vec<_> = store.snapshot().events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::Throttled]);
    }

    #[test]
    fn a_missing_counter_row_fails_closed() {
        let s = settings();
        let plan = Plan::new(&s, Scope::Email, CLIENT, Some(Subject::Email("a@b.c")), NOW).unwrap();
        let fails_closed = |counts: Counts| {
            assert!(
                matches!(plan.verdict(&counts, NOW), Err(FlowError::Storage(_))),
                "{counts:?} passed"
            );
        };
        fails_closed(Counts {
            client: None,
            subjects: vec![Some(1)],
            ..Counts::default()
        });
        fails_closed(Counts {
            client: Some(1),
            subjects: vec![None],
            ..Counts::default()
        });
        fails_closed(Counts {
            client: Some(1),
            subjects: vec![],
            ..Counts::default()
        });
        // A password check's failure counters are read, and must come back too.
        let check = Plan::password_check(&s, CLIENT, Subject::UserId(1), NOW).unwrap();
        for reads in [vec![], vec![Some(0), None]] {
            let counts = Counts {
                client: Some(1),
                subjects: vec![],
                reads,
            };
            assert!(matches!(
                check.verdict(&counts, NOW),
                Err(FlowError::Storage(_))
            ));
        }
        // A client over its limit wrote no subject row, and is throttled on its own count.
        let over = i64::from(s.rate_limit_email.count) + 1;
        let counts = Counts {
            client: Some(over),
            subjects: vec![None],
            ..Counts::default()
        };
        assert!(matches!(
            plan.verdict(&counts, NOW),
            Err(FlowError::Throttled { .. })
        ));
        let counts = Counts {
            client: Some(1),
            subjects: vec![Some(1)],
            ..Counts::default()
        };
        assert_eq!(plan.verdict(&counts, NOW), Ok(()));
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
            prop_assert!(bounded(&raw).len() <= 4 * MAX_PLAIN_SUBJECT);
        }
    }
}
