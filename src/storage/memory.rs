//! In-memory fakes of every storage trait, with the same compare-and-set semantics as the D1
//! statements (unique username and e-mail key, `WHERE password = ?` updates, insert-once spends),
//! for host tests of the flows.
//!
//! Races: with [`MemoryStore::interleaved`], every storage call first yields once, so two flows
//! polled together by [`both`] read before either writes, as two isolates can.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::domain::event::Event;
use crate::domain::user::{email_key, NewUser, ProfileChange, User};
use crate::storage::{
    AuthTokenStore, Challenge, Conflicts, Counter, Counts, EventStore, ExpiredRows, Hit, MfaStore,
    PasskeyChallenge, PasskeyCredential, PasskeyStore, PasswordChange, RefreshArbiter,
    RefreshState, Result, SessionIndex, SessionRecord, SocialLink, SocialState, SocialStore, Spend,
    StorageError, ThrottleStore, TotpRecord, UserLookup, UserStore,
};

/// One throttle counter row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterRow {
    /// Start of the counted window.
    pub window_start: i64,
    /// Hits in it.
    pub hits: i64,
    /// When the row may be purged.
    pub expires_at: i64,
}

/// Everything the fake holds; public so tests can look.
#[derive(Debug, Default, Clone)]
pub struct State {
    /// Users by id.
    pub users: BTreeMap<i64, User>,
    /// DRF token key → (user id, created).
    pub tokens: BTreeMap<String, (i64, i64)>,
    /// Spent jti → (family, spent_at, expires_at).
    pub spent: BTreeMap<String, (String, i64, i64)>,
    /// Revoked family → expires_at.
    pub revoked: BTreeMap<String, i64>,
    /// Throttle counters.
    pub throttle: BTreeMap<String, CounterRow>,
    /// The session index: (user id, session id) → record.
    pub sessions: BTreeMap<(String, String), SessionRecord>,
    /// The event log, oldest first.
    pub events: Vec<Event>,
    /// TOTP records by user id (`backup_codes_left` unused: the codes are below).
    pub totp: BTreeMap<i64, TotpRecord>,
    /// Unused backup-code hashes by user id.
    pub backup_codes: BTreeMap<i64, BTreeSet<String>>,
    /// Open second-factor challenges by id.
    pub challenges: BTreeMap<String, Challenge>,
    /// Passkeys by row id.
    pub passkeys: BTreeMap<i64, PasskeyCredential>,
    /// Open passkey challenges by challenge.
    pub passkey_challenges: BTreeMap<String, PasskeyChallenge>,
    /// Social sign-in states by id.
    pub social_states: BTreeMap<String, SocialState>,
    /// Linked identities: (provider, subject) → (user id, e-mail, last login).
    pub social_accounts: BTreeMap<(String, String), (i64, String, Option<i64>)>,
    next_id: i64,
    next_passkey: i64,
}

/// The fake store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: RefCell<State>,
    interleave: Cell<bool>,
    /// Every call fails with a backend error while set (fault tests).
    pub broken: Cell<bool>,
    /// Storage calls made so far (a D1 batch is one call): round-trip tests.
    pub calls: Cell<usize>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose calls yield once before touching state (race tests).
    pub fn interleaved() -> Self {
        let store = Self::default();
        store.interleave.set(true);
        store
    }

    /// A copy of the state.
    pub fn snapshot(&self) -> State {
        self.state.borrow().clone()
    }

    /// The stored user with `id`.
    pub fn user(&self, id: i64) -> Option<User> {
        self.state.borrow().users.get(&id).cloned()
    }

    /// Replaces (or inserts) a user as is, bypassing every rule (test set-up).
    pub fn put_user(&self, user: User) {
        let mut state = self.state.borrow_mut();
        state.next_id = state.next_id.max(user.id);
        state.users.insert(user.id, user);
    }

    async fn enter(&self) -> Result<()> {
        self.calls.set(self.calls.get() + 1);
        if self.interleave.get() {
            YieldOnce(false).await;
        }
        if self.broken.get() {
            return Err(StorageError::Backend("memory store is broken".into()));
        }
        Ok(())
    }

    fn find(state: &State, lookup: UserLookup<'_>) -> Option<User> {
        match lookup {
            UserLookup::Id(id) => state.users.get(&id).cloned(),
            UserLookup::Username(name) => {
                state.users.values().find(|u| u.username == name).cloned()
            }
            UserLookup::Email(email) => {
                Self::email_owner(state, email).and_then(|id| state.users.get(&id).cloned())
            }
        }
    }

    fn refresh_state_in(
        state: &State,
        jti: &str,
        family: &str,
        user_id: Option<i64>,
    ) -> (RefreshState, Option<User>) {
        let refresh = RefreshState {
            spent_at: state.spent.get(jti).map(|(_, at, _)| *at),
            family_revoked: state.revoked.contains_key(family),
        };
        let user = user_id.and_then(|id| state.users.get(&id).cloned());
        (refresh, user)
    }

    fn conflicts_in(state: &State, username: Option<&str>, email: Option<&str>) -> Conflicts {
        Conflicts {
            name_taken: username.is_some_and(|n| state.users.values().any(|u| u.username == n)),
            email_owner: email.and_then(|e| Self::email_owner(state, e)),
        }
    }

    fn email_owner(state: &State, email: &str) -> Option<i64> {
        let key = email_key(email);
        if key.is_empty() {
            return None;
        }
        state
            .users
            .values()
            .find(|u| email_key(&u.email) == key)
            .map(|u| u.id)
    }
}

impl UserStore for MemoryStore {
    async fn find_user(&self, lookup: UserLookup<'_>) -> Result<Option<User>> {
        self.enter().await?;
        Ok(Self::find(&self.state.borrow(), lookup))
    }

    async fn all_users(&self) -> Result<Vec<User>> {
        self.enter().await?;
        Ok(self.state.borrow().users.values().cloned().collect())
    }

    async fn conflicts(&self, username: Option<&str>, email: Option<&str>) -> Result<Conflicts> {
        self.enter().await?;
        Ok(Self::conflicts_in(&self.state.borrow(), username, email))
    }

    async fn create_user(&self, new: &NewUser) -> Result<User> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        if state.users.values().any(|u| u.username == new.username) {
            return Err(StorageError::Conflict { field: "username" });
        }
        if Self::email_owner(&state, &new.email).is_some() {
            return Err(StorageError::Conflict { field: "email" });
        }
        state.next_id += 1;
        let user = User {
            id: state.next_id,
            username: new.username.clone(),
            email: new.email.clone(),
            password: new.password.clone(),
            is_active: new.is_active,
            activation_pending: new.activation_pending,
            pending_email: None,
            is_staff: false,
            first_name: String::new(),
            last_name: String::new(),
            last_login: None,
            tokens_valid_after: 0,
            mfa_enabled: false,
            extra: serde_json::Map::new(),
        };
        let mut user = user;
        new.profile.apply(&mut user);
        state.users.insert(user.id, user.clone());
        Ok(user)
    }

    async fn update_email(&self, id: i64, email: &str, deactivate: bool) -> Result<()> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        if Self::email_owner(&state, email).is_some_and(|owner| owner != id) {
            return Err(StorageError::Conflict { field: "email" });
        }
        if let Some(user) = state.users.get_mut(&id) {
            user.email = email.to_string();
            user.pending_email = None;
            if deactivate {
                user.is_active = false;
                user.activation_pending = true;
            }
        }
        Ok(())
    }

    async fn update_profile(&self, id: i64, change: &ProfileChange) -> Result<()> {
        self.enter().await?;
        if let Some(user) = self.state.borrow_mut().users.get_mut(&id) {
            change.apply(user);
        }
        Ok(())
    }

    async fn set_pending_email(&self, id: i64, pending: Option<&str>) -> Result<()> {
        self.enter().await?;
        if let Some(user) = self.state.borrow_mut().users.get_mut(&id) {
            user.pending_email = pending.map(str::to_string);
        }
        Ok(())
    }

    async fn confirm_email_change(&self, id: i64, pending: &str) -> Result<bool> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        let waiting = state
            .users
            .get(&id)
            .is_some_and(|u| u.pending_email.as_deref() == Some(pending));
        if !waiting {
            return Ok(false);
        }
        if Self::email_owner(&state, pending).is_some_and(|owner| owner != id) {
            return Err(StorageError::Conflict { field: "email" });
        }
        if let Some(user) = state.users.get_mut(&id) {
            user.email = pending.to_string();
            user.pending_email = None;
        }
        Ok(true)
    }

    async fn cancel_email_change(&self, id: i64, pending: &str) -> Result<bool> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        match state.users.get_mut(&id) {
            Some(user) if user.pending_email.as_deref() == Some(pending) => {
                user.pending_email = None;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn activate(&self, id: i64, now: i64) -> Result<bool> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        match state.users.get_mut(&id) {
            Some(user) if !user.is_active && user.activation_pending => {
                user.is_active = true;
                user.activation_pending = false;
                user.last_login = Some(forward(user.last_login, now));
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_password(&self, id: i64, change: PasswordChange<'_>) -> Result<bool> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        match state.users.get_mut(&id) {
            Some(user) if user.password == change.old_hash => {
                user.password = change.new_hash.to_string();
                if let Some(at) = change.last_login {
                    user.last_login = Some(forward(user.last_login, at));
                }
                if let Some(at) = change.end_sessions_at {
                    user.tokens_valid_after = at.max(user.tokens_valid_after.saturating_add(1));
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_username(
        &self,
        user: &User,
        username: &str,
        last_login: Option<i64>,
    ) -> Result<bool> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        let unchanged = state
            .users
            .get(&user.id)
            .is_some_and(|u| u.password == user.password && u.last_login == user.last_login);
        if !unchanged {
            return Ok(false);
        }
        if state
            .users
            .values()
            .any(|u| u.username == username && u.id != user.id)
        {
            return Err(StorageError::Conflict { field: "username" });
        }
        if let Some(stored) = state.users.get_mut(&user.id) {
            stored.username = username.to_string();
            if let Some(at) = last_login {
                stored.last_login = Some(forward(stored.last_login, at));
            }
        }
        Ok(true)
    }

    async fn end_sessions(&self, id: i64, now: i64) -> Result<()> {
        self.enter().await?;
        if let Some(user) = self.state.borrow_mut().users.get_mut(&id) {
            user.tokens_valid_after = now.max(user.tokens_valid_after.saturating_add(1));
        }
        Ok(())
    }

    async fn set_last_login(&self, id: i64, when: i64) -> Result<()> {
        self.enter().await?;
        if let Some(user) = self.state.borrow_mut().users.get_mut(&id) {
            user.last_login = Some(forward(user.last_login, when));
        }
        Ok(())
    }

    async fn delete_user(&self, id: i64) -> Result<()> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        state.users.remove(&id);
        state.tokens.retain(|_, (owner, _)| *owner != id);
        // The foreign keys' ON DELETE CASCADE.
        state.totp.remove(&id);
        state.backup_codes.remove(&id);
        state.challenges.retain(|_, c| c.user_id != id);
        state.passkeys.retain(|_, c| c.user_id != id);
        state
            .social_accounts
            .retain(|_, (owner, _, _)| *owner != id);
        Ok(())
    }
}

impl AuthTokenStore for MemoryStore {
    async fn user_by_token_key(&self, key: &str) -> Result<Option<User>> {
        self.enter().await?;
        let state = self.state.borrow();
        Ok(state
            .tokens
            .get(key)
            .and_then(|(id, _)| state.users.get(id).cloned()))
    }

    async fn token_for_user(&self, user_id: i64, fresh_key: &str, now: i64) -> Result<String> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        if let Some((key, _)) = state.tokens.iter().find(|(_, (id, _))| *id == user_id) {
            return Ok(key.clone());
        }
        state.tokens.insert(fresh_key.to_string(), (user_id, now));
        Ok(fresh_key.to_string())
    }

    async fn delete_token(&self, user_id: i64) -> Result<()> {
        self.enter().await?;
        self.state
            .borrow_mut()
            .tokens
            .retain(|_, (owner, _)| *owner != user_id);
        Ok(())
    }
}

impl RefreshArbiter for MemoryStore {
    async fn refresh_state(
        &self,
        jti: &str,
        family: &str,
        user_id: Option<i64>,
    ) -> Result<(RefreshState, Option<User>)> {
        self.enter().await?;
        Ok(Self::refresh_state_in(
            &self.state.borrow(),
            jti,
            family,
            user_id,
        ))
    }

    async fn spend_refresh(&self, spend: &Spend<'_>) -> Result<bool> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        if state.spent.contains_key(spend.jti) {
            return Ok(false);
        }
        state.spent.insert(
            spend.jti.to_string(),
            (spend.family.to_string(), spend.now, spend.expires),
        );
        Ok(true)
    }

    async fn end_family(&self, spend: &Spend<'_>, family_expires: i64) -> Result<bool> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        state.spent.entry(spend.jti.to_string()).or_insert((
            spend.family.to_string(),
            spend.now,
            spend.expires,
        ));
        if state.revoked.contains_key(spend.family) {
            return Ok(false);
        }
        state
            .revoked
            .insert(spend.family.to_string(), family_expires);
        Ok(true)
    }

    async fn user_in_session(&self, id: i64, sid: &str) -> Result<(Option<User>, bool)> {
        self.enter().await?;
        let state = self.state.borrow();
        Ok((
            state.users.get(&id).cloned(),
            state.revoked.contains_key(sid),
        ))
    }

    async fn revoke_family(
        &self,
        family: &str,
        _user_id: &str,
        _now: i64,
        expires: i64,
    ) -> Result<()> {
        self.enter().await?;
        self.state
            .borrow_mut()
            .revoked
            .entry(family.to_string())
            .or_insert(expires);
        Ok(())
    }
}

impl MemoryStore {
    /// The D1 upsert: one more hit in `counter`'s window, or the first of a new window.
    fn bump(state: &mut State, counter: &Counter) -> i64 {
        let row = state
            .throttle
            .entry(counter.key.clone())
            .or_insert(CounterRow {
                window_start: counter.window_start,
                hits: 0,
                expires_at: counter.expires,
            });
        if row.window_start == counter.window_start {
            row.hits += 1;
        } else {
            row.hits = 1;
        }
        row.window_start = counter.window_start;
        row.expires_at = counter.expires;
        row.hits
    }

    /// The hits `counter`'s row holds in its window; `None` without a row for that window (the
    /// D1 sub-select's NULL).
    fn hits_in_window(state: &State, counter: &Counter) -> Option<i64> {
        state
            .throttle
            .get(&counter.key)
            .filter(|row| row.window_start == counter.window_start)
            .map(|row| row.hits)
    }
}

impl MemoryStore {
    /// [`ThrottleStore::hit`] on the state, for the one-call combinations (D1's one batch).
    fn hit_in(state: &mut State, hit: &Hit) -> Counts {
        let client = Some(Self::bump(state, &hit.client));
        let subjects = hit
            .subjects
            .iter()
            .map(|subject| {
                // The D1 statement: INSERT ... SELECT ... WHERE (client's hits) <= limit.
                let within = Self::hits_in_window(state, &hit.client)
                    .is_some_and(|hits| hits <= hit.client_limit);
                within.then(|| Self::bump(state, subject))
            })
            .collect();
        let reads = hit
            .reads
            .iter()
            .map(|counter| Some(Self::hits_in_window(state, counter).unwrap_or(0)))
            .collect();
        Counts {
            client,
            subjects,
            reads,
        }
    }
}

impl ThrottleStore for MemoryStore {
    async fn hit(&self, hit: &Hit) -> Result<Counts> {
        self.enter().await?;
        Ok(Self::hit_in(&mut self.state.borrow_mut(), hit))
    }

    async fn hit_and_find_user(
        &self,
        hit: &Hit,
        lookup: UserLookup<'_>,
    ) -> Result<(Counts, Option<User>)> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        let counts = Self::hit_in(&mut state, hit);
        Ok((counts, Self::find(&state, lookup)))
    }

    async fn hit_and_refresh_state(
        &self,
        hit: &Hit,
        jti: &str,
        family: &str,
        user_id: Option<i64>,
    ) -> Result<(Counts, RefreshState, Option<User>)> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        let counts = Self::hit_in(&mut state, hit);
        let (refresh, user) = Self::refresh_state_in(&state, jti, family, user_id);
        Ok((counts, refresh, user))
    }

    async fn hit_and_conflicts(
        &self,
        hit: &Hit,
        username: Option<&str>,
        email: Option<&str>,
    ) -> Result<(Counts, Conflicts)> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        let counts = Self::hit_in(&mut state, hit);
        Ok((counts, Self::conflicts_in(&state, username, email)))
    }

    async fn add_hits(&self, counters: &[Counter]) -> Result<()> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        for counter in counters {
            Self::bump(&mut state, counter);
        }
        Ok(())
    }
}

impl ExpiredRows for MemoryStore {
    async fn purge_expired_chunk(&self, now: i64, limit: usize) -> Result<usize> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        let spent: Vec<_> = state
            .spent
            .iter()
            .filter(|(_, (_, _, expires))| *expires < now)
            .map(|(jti, _)| jti.clone())
            .take(limit)
            .collect();
        let revoked: Vec<_> = state
            .revoked
            .iter()
            .filter(|(_, expires)| **expires < now)
            .map(|(family, _)| family.clone())
            .take(limit)
            .collect();
        let throttle: Vec<_> = state
            .throttle
            .iter()
            .filter(|(_, row)| row.expires_at < now)
            .map(|(key, _)| key.clone())
            .take(limit)
            .collect();
        let challenges: Vec<_> = state
            .challenges
            .iter()
            .filter(|(_, c)| c.expires_at < now)
            .map(|(id, _)| id.clone())
            .take(limit)
            .collect();
        let social: Vec<_> = state
            .social_states
            .iter()
            .filter(|(_, st)| st.expires_at < now)
            .map(|(id, _)| id.clone())
            .take(limit)
            .collect();
        let removed =
            spent.len() + revoked.len() + throttle.len() + challenges.len() + social.len();
        for id in challenges {
            state.challenges.remove(&id);
        }
        for id in social {
            state.social_states.remove(&id);
        }
        for jti in spent {
            state.spent.remove(&jti);
        }
        for family in revoked {
            state.revoked.remove(&family);
        }
        for key in throttle {
            state.throttle.remove(&key);
        }
        Ok(removed)
    }
}

impl EventStore for MemoryStore {
    async fn insert_events(&self, events: &[Event]) -> Result<Vec<Event>> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        let mut written = Vec::new();
        for event in events {
            let repeat = event.once_since.is_some_and(|since| {
                state
                    .events
                    .iter()
                    .any(|e| e.user_id == event.user_id && e.kind == event.kind && e.at >= since)
            });
            if repeat {
                continue;
            }
            let id = state.events.last().map_or(1, |e| e.id + 1);
            let stored = Event {
                id,
                once_since: None,
                ..event.clone()
            };
            state.events.push(stored.clone());
            written.push(stored);
        }
        Ok(written)
    }

    async fn events(&self, user_id: i64, before: Option<i64>, limit: usize) -> Result<Vec<Event>> {
        self.enter().await?;
        let state = self.state.borrow();
        Ok(state
            .events
            .iter()
            .rev()
            .filter(|e| e.user_id == user_id && before.is_none_or(|b| e.id < b))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn purge_events(&self, before: i64, limit: usize) -> Result<usize> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        let old: Vec<i64> = state
            .events
            .iter()
            .filter(|e| e.at < before)
            .take(limit)
            .map(|e| e.id)
            .collect();
        state.events.retain(|e| !old.contains(&e.id));
        Ok(old.len())
    }
}

impl SessionIndex for MemoryStore {
    async fn put_session(&self, record: &SessionRecord, _now: i64) -> Result<()> {
        self.enter().await?;
        self.state
            .borrow_mut()
            .sessions
            .insert((record.user_id.clone(), record.id.clone()), record.clone());
        Ok(())
    }

    async fn sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>> {
        self.enter().await?;
        Ok(self
            .state
            .borrow()
            .sessions
            .values()
            .filter(|r| r.user_id == user_id)
            .cloned()
            .collect())
    }

    async fn session(&self, user_id: &str, id: &str) -> Result<Option<SessionRecord>> {
        self.enter().await?;
        Ok(self
            .state
            .borrow()
            .sessions
            .get(&(user_id.to_string(), id.to_string()))
            .cloned())
    }

    async fn delete_session(&self, user_id: &str, id: &str) -> Result<()> {
        self.enter().await?;
        self.state
            .borrow_mut()
            .sessions
            .remove(&(user_id.to_string(), id.to_string()));
        Ok(())
    }
}

/// last_login as D1 moves it: to `at`, but always at least a second past the stored value.
fn forward(stored: Option<i64>, at: i64) -> i64 {
    stored.map_or(at, |s| at.max(s.saturating_add(1)))
}

/// A future that is pending once, then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Runs a future to completion on the current thread (the fakes never wait on anything real).
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
    }
}

/// Runs two futures to completion, polling them in turn, so that with an interleaved store each
/// reaches its first storage call before either goes further.
pub fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    let mut out_a = None;
    let mut out_b = None;
    let mut cx = Context::from_waker(Waker::noop());
    while out_a.is_none() || out_b.is_none() {
        if out_a.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(&mut cx) {
                out_a = Some(v);
            }
        }
        if out_b.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(&mut cx) {
                out_b = Some(v);
            }
        }
    }
    match (out_a, out_b) {
        (Some(a), Some(b)) => (a, b),
        _ => unreachable!("the loop ends only when both are ready"),
    }
}

impl MfaStore for MemoryStore {
    async fn totp(&self, user_id: i64) -> Result<Option<TotpRecord>> {
        self.enter().await?;
        let state = self.state.borrow();
        Ok(state.totp.get(&user_id).map(|t| TotpRecord {
            backup_codes_left: state.backup_codes.get(&user_id).map_or(0, BTreeSet::len),
            ..t.clone()
        }))
    }

    async fn begin_totp(&self, user_id: i64, sealed_secret: &str, _now: i64) -> Result<bool> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        if state.totp.get(&user_id).is_some_and(|t| t.enabled) {
            return Ok(false);
        }
        state.totp.insert(
            user_id,
            TotpRecord {
                sealed_secret: sealed_secret.into(),
                enabled: false,
                last_step: 0,
                backup_codes_left: 0,
            },
        );
        Ok(true)
    }

    async fn enable_totp(
        &self,
        user_id: i64,
        sealed_secret: &str,
        step: i64,
        code_hashes: &[String],
    ) -> Result<bool> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        match state.totp.get_mut(&user_id) {
            Some(t) if !t.enabled && t.sealed_secret == sealed_secret => {
                t.enabled = true;
                t.last_step = step;
            }
            _ => return Ok(false),
        }
        state
            .backup_codes
            .insert(user_id, code_hashes.iter().cloned().collect());
        if let Some(user) = state.users.get_mut(&user_id) {
            user.mfa_enabled = true;
        }
        Ok(true)
    }

    async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        match state.totp.get_mut(&user_id) {
            Some(t) if t.enabled && t.last_step < step => {
                t.last_step = step;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn use_backup_code(&self, user_id: i64, code_hash: &str) -> Result<bool> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        Ok(state
            .backup_codes
            .get_mut(&user_id)
            .is_some_and(|codes| codes.remove(code_hash)))
    }

    async fn replace_backup_codes(&self, user_id: i64, code_hashes: &[String]) -> Result<()> {
        self.enter().await?;
        self.state
            .borrow_mut()
            .backup_codes
            .insert(user_id, code_hashes.iter().cloned().collect());
        Ok(())
    }

    async fn disable_totp(&self, user_id: i64) -> Result<()> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        state.totp.remove(&user_id);
        state.backup_codes.remove(&user_id);
        state.challenges.retain(|_, c| c.user_id != user_id);
        if let Some(user) = state.users.get_mut(&user_id) {
            user.mfa_enabled = false;
        }
        Ok(())
    }

    async fn create_challenge(&self, challenge: &Challenge) -> Result<()> {
        self.enter().await?;
        self.state
            .borrow_mut()
            .challenges
            .insert(challenge.id.clone(), challenge.clone());
        Ok(())
    }

    async fn challenge(&self, id: &str, now: i64) -> Result<Option<Challenge>> {
        self.enter().await?;
        Ok(self
            .state
            .borrow()
            .challenges
            .get(id)
            .filter(|c| c.expires_at > now)
            .cloned())
    }

    async fn fail_challenge(&self, id: &str, max: i64) -> Result<()> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        let dead = match state.challenges.get_mut(id) {
            Some(c) => {
                c.failures += 1;
                c.failures >= max
            }
            None => false,
        };
        if dead {
            state.challenges.remove(id);
        }
        Ok(())
    }

    async fn consume_challenge(&self, id: &str) -> Result<bool> {
        self.enter().await?;
        Ok(self.state.borrow_mut().challenges.remove(id).is_some())
    }
}

impl PasskeyStore for MemoryStore {
    async fn create_passkey_challenge(&self, challenge: &PasskeyChallenge) -> Result<()> {
        self.enter().await?;
        self.state
            .borrow_mut()
            .passkey_challenges
            .insert(challenge.challenge.clone(), challenge.clone());
        Ok(())
    }

    async fn signup_challenge(&self, ukey: &str, now: i64) -> Result<Option<PasskeyChallenge>> {
        self.enter().await?;
        Ok(self
            .state
            .borrow()
            .passkey_challenges
            .values()
            .find(|c| {
                c.purpose == "signup" && c.ukey.as_deref() == Some(ukey) && c.expires_at > now
            })
            .cloned())
    }

    async fn take_passkey_challenge(
        &self,
        challenge: &str,
        purpose: &str,
        now: i64,
    ) -> Result<Option<PasskeyChallenge>> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        match state.passkey_challenges.get(challenge) {
            Some(c) if c.purpose == purpose && c.expires_at > now => {
                Ok(state.passkey_challenges.remove(challenge))
            }
            _ => Ok(None),
        }
    }

    async fn passkeys(&self, user_id: i64) -> Result<Vec<PasskeyCredential>> {
        self.enter().await?;
        Ok(self
            .state
            .borrow()
            .passkeys
            .values()
            .filter(|c| c.user_id == user_id)
            .cloned()
            .collect())
    }

    async fn passkey_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<PasskeyCredential>> {
        self.enter().await?;
        Ok(self
            .state
            .borrow()
            .passkeys
            .values()
            .find(|c| c.credential_id == credential_id)
            .cloned())
    }

    async fn add_passkey(&self, credential: &PasskeyCredential) -> Result<i64> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        if state
            .passkeys
            .values()
            .any(|c| c.credential_id == credential.credential_id)
        {
            return Err(StorageError::Conflict {
                field: "credential_id",
            });
        }
        state.next_passkey += 1;
        let id = state.next_passkey;
        state.passkeys.insert(
            id,
            PasskeyCredential {
                id,
                ..credential.clone()
            },
        );
        Ok(id)
    }

    async fn advance_passkey(
        &self,
        id: i64,
        old_count: i64,
        new_count: i64,
        now: i64,
    ) -> Result<bool> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        match state.passkeys.get_mut(&id) {
            Some(c) if c.sign_count == old_count => {
                c.sign_count = new_count;
                c.last_used = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn rename_passkey(&self, user_id: i64, id: i64, name: &str) -> Result<bool> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        match state.passkeys.get_mut(&id) {
            Some(c) if c.user_id == user_id => {
                c.name = name.to_string();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_passkey(&self, user_id: i64, id: i64) -> Result<bool> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        if state
            .passkeys
            .get(&id)
            .is_some_and(|c| c.user_id == user_id)
        {
            state.passkeys.remove(&id);
            return Ok(true);
        }
        Ok(false)
    }
}

impl SocialStore for MemoryStore {
    async fn create_social_state(&self, social: &SocialState) -> Result<()> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        if state.social_states.contains_key(&social.id) {
            return Err(StorageError::Backend(
                "UNIQUE constraint failed: social_states.id".into(),
            ));
        }
        state
            .social_states
            .insert(social.id.clone(), social.clone());
        Ok(())
    }

    async fn consume_social_state(
        &self,
        id: &str,
        provider: &str,
        now: i64,
    ) -> Result<Option<SocialState>> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        let live = state
            .social_states
            .get(id)
            .is_some_and(|s| s.provider == provider && s.expires_at > now);
        Ok(if live {
            state.social_states.remove(id)
        } else {
            None
        })
    }

    async fn social_user(&self, provider: &str, subject: &str, now: i64) -> Result<Option<User>> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        let key = (provider.to_string(), subject.to_string());
        let Some(link) = state.social_accounts.get_mut(&key) else {
            return Ok(None);
        };
        link.2 = Some(now);
        let owner = link.0;
        Ok(state.users.get(&owner).cloned())
    }

    async fn link_social(&self, link: &SocialLink<'_>) -> Result<bool> {
        self.enter().await?;
        let mut state = self.state.borrow_mut();
        if !state.users.contains_key(&link.user_id) {
            return Err(StorageError::Backend(
                "FOREIGN KEY constraint failed".into(),
            ));
        }
        let key = (link.provider.to_string(), link.subject.to_string());
        if state.social_accounts.contains_key(&key) {
            return Ok(false);
        }
        state
            .social_accounts
            .insert(key, (link.user_id, link.email.to_string(), Some(link.now)));
        Ok(true)
    }
}
