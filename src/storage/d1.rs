//! D1 adapter: SQL text, row ↔ `User` mapping, and the atomic writes (unique inserts, conditional
//! updates) that arbitrate races. No decisions are made here.
//!
//! Every statement binds its parameters; no value is ever formatted into SQL.

use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

use crate::domain::event::{Event, EventKind};
use crate::domain::profile::parse_extra;
use crate::domain::user::{email_key, NewUser, ProfileChange, User};
use crate::storage::kv::RefreshStore;
use crate::storage::{
    AuthTokenStore, Challenge, Conflicts, Counter, Counts, EventStore, ExpiredRows, Hit, MfaStore,
    PasskeyChallenge, PasskeyCredential, PasskeyStore, PasswordChange, RefreshArbiter,
    RefreshState, Result, SessionIndex, SessionRecord, SocialLink, SocialState, SocialStore, Spend,
    StorageError, ThrottleStore, TotpRecord, UserLookup, UserStore,
};

// Every write of last_login moves it strictly forward (at least one second past the stored
// value): the e-mailed links cover last_login in whole seconds, so a login, an activation or a
// reset in the same second as the link was minted must still spend it.

/// Unique-index failures become conflicts on the user attribute right at the boundary.
impl From<worker::Error> for StorageError {
    fn from(e: worker::Error) -> Self {
        let text = e.to_string();
        if text.contains("UNIQUE constraint failed: users.username") {
            StorageError::Conflict { field: "username" }
        } else if text.contains("UNIQUE constraint failed: users.email_key") {
            StorageError::Conflict { field: "email" }
        } else if text.contains("UNIQUE constraint failed: webauthn_credentials.credential_id") {
            StorageError::Conflict {
                field: "credential_id",
            }
        } else {
            StorageError::Backend(format!("d1: {text}"))
        }
    }
}

#[derive(Deserialize)]
struct UserRow {
    id: i64,
    username: String,
    email: String,
    password: String,
    is_active: i64,
    activation_pending: i64,
    pending_email: Option<String>,
    is_staff: i64,
    first_name: String,
    last_name: String,
    last_login: Option<i64>,
    tokens_valid_after: i64,
    mfa_enabled: i64,
    extra_fields: String,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            username: r.username,
            email: r.email,
            password: r.password,
            is_active: r.is_active != 0,
            activation_pending: r.activation_pending != 0,
            pending_email: r.pending_email,
            is_staff: r.is_staff != 0,
            first_name: r.first_name,
            last_name: r.last_name,
            last_login: r.last_login,
            tokens_valid_after: r.tokens_valid_after,
            mfa_enabled: r.mfa_enabled != 0,
            extra: parse_extra(&r.extra_fields),
        }
    }
}

const USER_COLUMNS: &str = "id, username, email, password, is_active, activation_pending, \
                            pending_email, is_staff, first_name, last_name, last_login, \
                            tokens_valid_after, mfa_enabled, extra_fields";

/// The extra fields of a new user as the JSON column keeps them (nulls are not stored).
fn stored_extra(extra: &serde_json::Map<String, serde_json::Value>) -> String {
    let kept: serde_json::Map<_, _> = extra
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    serde_json::Value::Object(kept).to_string()
}

fn num(n: i64) -> JsValue {
    // D1 takes JS numbers; ids and unix seconds are far below 2^53.
    JsValue::from_f64(n as f64)
}

fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

fn opt_num(n: Option<i64>) -> JsValue {
    n.map(num).unwrap_or(JsValue::NULL)
}

/// The conflict clause of every counter upsert: one more hit in the same window, or the first
/// hit of a new one; the row's hits come back.
const UPSERT_HIT: &str = "ON CONFLICT(key) DO UPDATE SET \
       hits = CASE WHEN throttle.window_start = excluded.window_start \
                   THEN throttle.hits + 1 ELSE 1 END, \
       window_start = excluded.window_start, expires_at = excluded.expires_at \
     RETURNING hits";

/// The D1 database of users, DRF tokens, spent refresh tokens and throttle counters, with the
/// SQL_TRACE: log each distinct statement once per isolate (the query-plan test reads them).
pub static TRACE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

thread_local! {
    static TRACED: std::cell::RefCell<std::collections::HashSet<String>> =
        std::cell::RefCell::new(std::collections::HashSet::new());
}

/// Logs `sql` the first time this isolate prepares it, when SQL_TRACE is on.
fn trace(sql: &str) {
    if !TRACE.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let first = TRACED.with(|seen| seen.borrow_mut().insert(sql.to_string()));
    if first {
        let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        crate::log::info("sql_trace", serde_json::json!({ "sql": sql }));
    }
}

/// KV refresh-token records beside it (the flows see one store).
pub struct Store {
    db: D1Database,
    records: std::result::Result<RefreshStore, String>,
}

impl Store {
    /// Wraps the `DB` binding and the `AUTH_KV` records (or why that binding is missing, which
    /// fails only the requests that need it).
    pub fn new(db: D1Database, records: std::result::Result<RefreshStore, String>) -> Self {
        Store { db, records }
    }

    fn records(&self) -> Result<&RefreshStore> {
        self.records
            .as_ref()
            .map_err(|e| StorageError::Backend(format!("AUTH_KV binding: {e}")))
    }

    fn stmt(&self, sql: &str, args: &[JsValue]) -> Result<D1PreparedStatement> {
        trace(sql);
        Ok(self.db.prepare(sql).bind(args)?)
    }

    async fn changes(&self, stmt: D1PreparedStatement) -> Result<usize> {
        let result = stmt.run().await?;
        Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0))
    }

    /// The statement that finds the user `lookup` names; `None` when it can name nobody (an
    /// empty e-mail).
    fn user_stmt(&self, lookup: UserLookup<'_>) -> Result<Option<D1PreparedStatement>> {
        // The e-mail index is partial (`WHERE email_key <> ''`): SQLite uses it only when the
        // query repeats that term, and scans the whole table otherwise.
        let (condition, arg) = match lookup {
            UserLookup::Id(id) => ("id = ?1", num(id)),
            UserLookup::Username(name) => ("username = ?1", text(name)),
            UserLookup::Email(email) => {
                let key = email_key(email);
                if key.is_empty() {
                    return Ok(None);
                }
                ("email_key = ?1 AND email_key <> ''", text(&key))
            }
        };
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {condition}");
        Ok(Some(self.stmt(&sql, &[arg])?))
    }

    fn conflicts_stmt(
        &self,
        username: Option<&str>,
        email: Option<&str>,
    ) -> Result<D1PreparedStatement> {
        let key = email.map(email_key).filter(|k| !k.is_empty());
        self.stmt(
            "SELECT EXISTS (SELECT 1 FROM users WHERE username = ?1) AS name_taken, \
             (SELECT id FROM users WHERE email_key = ?2 AND email_key <> '') AS email_owner",
            &[
                username.map(text).unwrap_or(JsValue::NULL),
                key.as_deref().map(text).unwrap_or(JsValue::NULL),
            ],
        )
    }

    fn spend_stmt(&self, spend: &Spend<'_>) -> Result<D1PreparedStatement> {
        self.stmt(
            "INSERT INTO refresh_spent (jti, family, user_id, spent_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(jti) DO NOTHING",
            &[
                text(spend.jti),
                text(spend.family),
                text(spend.user_id),
                num(spend.now),
                num(spend.expires),
            ],
        )
    }

    fn revoke_stmt(
        &self,
        family: &str,
        user_id: &str,
        now: i64,
        expires: i64,
    ) -> Result<D1PreparedStatement> {
        self.stmt(
            "INSERT INTO revoked_families (family, user_id, revoked_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT(family) DO NOTHING",
            &[text(family), text(user_id), num(now), num(expires)],
        )
    }

    /// The statements of a [`Hit`]: the client's upsert, then each subject's, written only while
    /// the client's hits in its window are within the limit (so a throttled client adds no
    /// rows), then the reads. Every written or read counter returns its hits.
    fn hit_stmts(&self, hit: &Hit) -> Result<Vec<D1PreparedStatement>> {
        let client = &hit.client;
        let mut statements = vec![self.add_stmt(client)?];
        for subject in &hit.subjects {
            statements.push(self.stmt(
                &format!(
                    "INSERT INTO throttle (key, window_start, hits, expires_at) SELECT ?1, ?2, 1, ?3 \
                     WHERE (SELECT hits FROM throttle WHERE key = ?4 AND window_start = ?5) <= ?6 \
                     {UPSERT_HIT}"
                ),
                &[
                    text(&subject.key),
                    num(subject.window_start),
                    num(subject.expires),
                    text(&client.key),
                    num(client.window_start),
                    num(hit.client_limit),
                ],
            )?);
        }
        for read in &hit.reads {
            statements.push(self.stmt(
                "SELECT COALESCE((SELECT hits FROM throttle WHERE key = ?1 AND window_start = ?2), 0) \
                 AS hits",
                &[text(&read.key), num(read.window_start)],
            )?);
        }
        Ok(statements)
    }

    /// The arbiter's state of a refresh token, then the user when one is asked for.
    fn refresh_state_stmts(
        &self,
        jti: &str,
        family: &str,
        user_id: Option<i64>,
    ) -> Result<Vec<D1PreparedStatement>> {
        let mut statements = vec![self.stmt(
            "SELECT (SELECT spent_at FROM refresh_spent WHERE jti = ?1) AS spent_at, \
             EXISTS (SELECT 1 FROM revoked_families WHERE family = ?2) AS revoked",
            &[text(jti), text(family)],
        )?];
        if let Some(id) = user_id {
            statements.push(self.user_stmt(UserLookup::Id(id))?.ok_or_else(|| {
                StorageError::Backend("an id look-up always has a statement".into())
            })?);
        }
        Ok(statements)
    }

    /// The unconditional upsert of one counter.
    fn add_stmt(&self, counter: &Counter) -> Result<D1PreparedStatement> {
        self.stmt(
            &format!("INSERT INTO throttle (key, window_start, hits, expires_at) VALUES (?1, ?2, 1, ?3) {UPSERT_HIT}"),
            &[text(&counter.key), num(counter.window_start), num(counter.expires)],
        )
    }
}

impl ExpiredRows for Store {
    async fn purge_expired_chunk(&self, now: i64, limit: usize) -> Result<usize> {
        // Bounded deletes: each statement finds its rows through the expires_at index and
        // removes at most `limit`, so no run holds the database for long.
        let statements = [
            "refresh_spent",
            "revoked_families",
            "throttle",
            "mfa_challenges",
            "webauthn_challenges",
            "social_states",
        ]
        .iter()
        .map(|table| {
            self.stmt(
                &format!(
                    "DELETE FROM {table} WHERE rowid IN \
                         (SELECT rowid FROM {table} WHERE expires_at < ?1 LIMIT ?2)"
                ),
                &[num(now), num(i64::try_from(limit).unwrap_or(i64::MAX))],
            )
        })
        .collect::<Result<Vec<_>>>()?;
        let mut removed = 0;
        for result in self.db.batch(statements).await? {
            removed += result.meta()?.and_then(|m| m.changes).unwrap_or(0);
        }
        Ok(removed)
    }
}

impl UserStore for Store {
    async fn find_user(&self, lookup: UserLookup<'_>) -> Result<Option<User>> {
        let Some(stmt) = self.user_stmt(lookup)? else {
            return Ok(None);
        };
        let row: Option<UserRow> = stmt.first(None).await?;
        Ok(row.map(User::from))
    }

    async fn all_users(&self) -> Result<Vec<User>> {
        let rows: Vec<UserRow> = self
            .db
            .prepare({
                let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
                trace(&sql);
                sql
            })
            .all()
            .await?
            .results()?;
        Ok(rows.into_iter().map(User::from).collect())
    }

    async fn conflicts(&self, username: Option<&str>, email: Option<&str>) -> Result<Conflicts> {
        let result = self.conflicts_stmt(username, email)?.all().await?;
        conflicts_of(&result)
    }

    async fn create_user(&self, new: &NewUser) -> Result<User> {
        let sql = format!(
            "INSERT INTO users (username, email, email_key, password, is_active, \
             activation_pending, date_joined, first_name, last_name, extra_fields) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING {USER_COLUMNS}"
        );
        let row: Option<UserRow> = self
            .stmt(
                &sql,
                &[
                    text(&new.username),
                    text(&new.email),
                    text(&email_key(&new.email)),
                    text(&new.password),
                    num(i64::from(new.is_active)),
                    num(i64::from(new.activation_pending)),
                    num(new.date_joined),
                    text(new.profile.first_name.as_deref().unwrap_or_default()),
                    text(new.profile.last_name.as_deref().unwrap_or_default()),
                    text(&stored_extra(&new.profile.extra)),
                ],
            )?
            .first(None)
            .await?;
        row.map(User::from)
            .ok_or_else(|| StorageError::Backend("insert returned no row".into()))
    }

    async fn update_email(&self, id: i64, email: &str, deactivate: bool) -> Result<()> {
        self.stmt(
            "UPDATE users SET email = ?2, email_key = ?3, pending_email = NULL, \
             is_active = CASE WHEN ?4 THEN 0 ELSE is_active END, \
             activation_pending = CASE WHEN ?4 THEN 1 ELSE activation_pending END WHERE id = ?1",
            &[
                num(id),
                text(email),
                text(&email_key(email)),
                num(i64::from(deactivate)),
            ],
        )?
        .run()
        .await?;
        Ok(())
    }

    async fn update_profile(&self, id: i64, change: &ProfileChange) -> Result<()> {
        // json_patch is RFC 7396: a null member deletes the key, as ProfileChange::apply does.
        self.stmt(
            "UPDATE users SET first_name = COALESCE(?2, first_name), \
             last_name = COALESCE(?3, last_name), \
             extra_fields = json_patch(extra_fields, ?4) WHERE id = ?1",
            &[
                num(id),
                change
                    .first_name
                    .as_deref()
                    .map(text)
                    .unwrap_or(JsValue::NULL),
                change
                    .last_name
                    .as_deref()
                    .map(text)
                    .unwrap_or(JsValue::NULL),
                text(&serde_json::Value::Object(change.extra.clone()).to_string()),
            ],
        )?
        .run()
        .await?;
        Ok(())
    }

    async fn set_pending_email(&self, id: i64, pending: Option<&str>) -> Result<()> {
        self.stmt(
            "UPDATE users SET pending_email = ?2 WHERE id = ?1",
            &[num(id), pending.map(text).unwrap_or(JsValue::NULL)],
        )?
        .run()
        .await?;
        Ok(())
    }

    async fn confirm_email_change(&self, id: i64, pending: &str) -> Result<bool> {
        let stmt = self.stmt(
            "UPDATE users SET email = ?2, email_key = ?3, pending_email = NULL \
             WHERE id = ?1 AND pending_email = ?2",
            &[num(id), text(pending), text(&email_key(pending))],
        )?;
        Ok(self.changes(stmt).await? == 1)
    }

    async fn cancel_email_change(&self, id: i64, pending: &str) -> Result<bool> {
        let stmt = self.stmt(
            "UPDATE users SET pending_email = NULL WHERE id = ?1 AND pending_email = ?2",
            &[num(id), text(pending)],
        )?;
        Ok(self.changes(stmt).await? == 1)
    }

    async fn activate(&self, id: i64, now: i64) -> Result<bool> {
        let stmt = self.stmt(
            "UPDATE users SET is_active = 1, activation_pending = 0, \
             last_login = MAX(?2, COALESCE(last_login + 1, ?2)) \
             WHERE id = ?1 AND is_active = 0 AND activation_pending = 1",
            &[num(id), num(now)],
        )?;
        Ok(self.changes(stmt).await? == 1)
    }

    async fn set_password(&self, id: i64, change: PasswordChange<'_>) -> Result<bool> {
        let stmt = self.stmt(
            "UPDATE users SET password = ?3, \
             last_login = CASE WHEN ?4 IS NULL THEN last_login \
               ELSE MAX(?4, COALESCE(last_login + 1, ?4)) END, \
             tokens_valid_after = CASE WHEN ?5 IS NULL THEN tokens_valid_after \
               ELSE MAX(?5, tokens_valid_after + 1) END WHERE id = ?1 AND password = ?2",
            &[
                num(id),
                text(change.old_hash),
                text(change.new_hash),
                opt_num(change.last_login),
                opt_num(change.end_sessions_at),
            ],
        )?;
        Ok(self.changes(stmt).await? == 1)
    }

    async fn set_username(
        &self,
        user: &User,
        username: &str,
        last_login: Option<i64>,
    ) -> Result<bool> {
        let stmt = self.stmt(
            "UPDATE users SET username = ?3, last_login = CASE WHEN ?4 IS NULL THEN last_login \
               ELSE MAX(?4, COALESCE(last_login + 1, ?4)) END \
             WHERE id = ?1 AND password = ?2 AND last_login IS ?5",
            &[
                num(user.id),
                text(&user.password),
                text(username),
                opt_num(last_login),
                opt_num(user.last_login),
            ],
        )?;
        Ok(self.changes(stmt).await? == 1)
    }

    async fn end_sessions(&self, id: i64, now: i64) -> Result<()> {
        self.stmt(
            "UPDATE users SET tokens_valid_after = MAX(?2, tokens_valid_after + 1) WHERE id = ?1",
            &[num(id), num(now)],
        )?
        .run()
        .await?;
        Ok(())
    }

    async fn set_last_login(&self, id: i64, when: i64) -> Result<()> {
        self.stmt(
            "UPDATE users SET last_login = MAX(?2, COALESCE(last_login + 1, ?2)) WHERE id = ?1",
            &[num(id), num(when)],
        )?
        .run()
        .await?;
        Ok(())
    }

    async fn delete_user(&self, id: i64) -> Result<()> {
        self.db
            .batch(vec![
                self.stmt("DELETE FROM auth_tokens WHERE user_id = ?1", &[num(id)])?,
                self.stmt("DELETE FROM users WHERE id = ?1", &[num(id)])?,
            ])
            .await?;
        Ok(())
    }
}

impl AuthTokenStore for Store {
    async fn user_by_token_key(&self, key: &str) -> Result<Option<User>> {
        let columns = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {columns} FROM auth_tokens t JOIN users u ON u.id = t.user_id WHERE t.key = ?1"
        );
        let row: Option<UserRow> = self.stmt(&sql, &[text(key)])?.first(None).await?;
        Ok(row.map(User::from))
    }

    async fn token_for_user(&self, user_id: i64, fresh_key: &str, now: i64) -> Result<String> {
        let results = self
            .db
            .batch(vec![
                self.stmt(
                    "INSERT INTO auth_tokens (key, user_id, created) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(user_id) DO NOTHING",
                    &[text(fresh_key), num(user_id), num(now)],
                )?,
                self.stmt(
                    "SELECT key FROM auth_tokens WHERE user_id = ?1",
                    &[num(user_id)],
                )?,
            ])
            .await?;
        #[derive(Deserialize)]
        struct KeyRow {
            key: String,
        }
        let rows: Vec<KeyRow> = match results.get(1) {
            Some(r) => r.results()?,
            None => Vec::new(),
        };
        rows.into_iter()
            .next()
            .map(|r| r.key)
            .ok_or_else(|| StorageError::Backend("token row missing after insert".into()))
    }

    async fn delete_token(&self, user_id: i64) -> Result<()> {
        self.stmt(
            "DELETE FROM auth_tokens WHERE user_id = ?1",
            &[num(user_id)],
        )?
        .run()
        .await?;
        Ok(())
    }
}

impl RefreshArbiter for Store {
    async fn refresh_state(
        &self,
        jti: &str,
        family: &str,
        user_id: Option<i64>,
    ) -> Result<(RefreshState, Option<User>)> {
        let results = self
            .db
            .batch(self.refresh_state_stmts(jti, family, user_id)?)
            .await?;
        refresh_state_of(&results)
    }

    async fn spend_refresh(&self, spend: &Spend<'_>) -> Result<bool> {
        let stmt = self.spend_stmt(spend)?;
        Ok(self.changes(stmt).await? == 1)
    }

    async fn end_family(&self, spend: &Spend<'_>, family_expires: i64) -> Result<bool> {
        let results = self
            .db
            .batch(vec![
                self.spend_stmt(spend)?,
                self.revoke_stmt(spend.family, spend.user_id, spend.now, family_expires)?,
            ])
            .await?;
        let revoked = match results.get(1) {
            Some(r) => r.meta()?.and_then(|m| m.changes).unwrap_or(0),
            None => 0,
        };
        Ok(revoked == 1)
    }

    async fn user_in_session(&self, id: i64, sid: &str) -> Result<(Option<User>, bool)> {
        #[derive(Deserialize)]
        struct Row {
            revoked: i64,
        }
        let user = self
            .user_stmt(UserLookup::Id(id))?
            .ok_or_else(|| StorageError::Backend("an id look-up always has a statement".into()))?;
        let revoked = self.stmt(
            "SELECT EXISTS (SELECT 1 FROM revoked_families WHERE family = ?1) AS revoked",
            &[text(sid)],
        )?;
        let results = self.db.batch(vec![user, revoked]).await?;
        let user = match results.first() {
            Some(r) => r.results::<UserRow>()?.into_iter().next().map(User::from),
            None => None,
        };
        let revoked = match results.get(1) {
            Some(r) => r.results::<Row>()?.first().is_some_and(|r| r.revoked != 0),
            None => true,
        };
        Ok((user, revoked))
    }

    async fn revoke_family(
        &self,
        family: &str,
        user_id: &str,
        now: i64,
        expires: i64,
    ) -> Result<()> {
        self.revoke_stmt(family, user_id, now, expires)?
            .run()
            .await?;
        Ok(())
    }
}

impl ThrottleStore for Store {
    async fn hit(&self, hit: &Hit) -> Result<Counts> {
        let results = self.db.batch(self.hit_stmts(hit)?).await?;
        counts_of(hit, &results)
    }

    async fn add_hits(&self, counters: &[Counter]) -> Result<()> {
        if counters.is_empty() {
            return Ok(());
        }
        let statements = counters
            .iter()
            .map(|c| self.add_stmt(c))
            .collect::<Result<Vec<_>>>()?;
        self.db.batch(statements).await?;
        Ok(())
    }

    async fn hit_and_find_user(
        &self,
        hit: &Hit,
        lookup: UserLookup<'_>,
    ) -> Result<(Counts, Option<User>)> {
        let mut statements = self.hit_stmts(hit)?;
        let counters = statements.len();
        let looked_up = match self.user_stmt(lookup)? {
            Some(stmt) => {
                statements.push(stmt);
                true
            }
            None => false,
        };
        let results = self.db.batch(statements).await?;
        let user = match results.get(counters).filter(|_| looked_up) {
            Some(r) => r.results::<UserRow>()?.into_iter().next().map(User::from),
            None => None,
        };
        Ok((counts_of(hit, &results)?, user))
    }

    async fn hit_and_refresh_state(
        &self,
        hit: &Hit,
        jti: &str,
        family: &str,
        user_id: Option<i64>,
    ) -> Result<(Counts, RefreshState, Option<User>)> {
        let mut statements = self.hit_stmts(hit)?;
        let counters = statements.len();
        statements.extend(self.refresh_state_stmts(jti, family, user_id)?);
        let results = self.db.batch(statements).await?;
        let (state, user) = refresh_state_of(results.get(counters..).unwrap_or_default())?;
        Ok((counts_of(hit, &results)?, state, user))
    }

    async fn hit_and_conflicts(
        &self,
        hit: &Hit,
        username: Option<&str>,
        email: Option<&str>,
    ) -> Result<(Counts, Conflicts)> {
        let mut statements = self.hit_stmts(hit)?;
        let counters = statements.len();
        statements.push(self.conflicts_stmt(username, email)?);
        let results = self.db.batch(statements).await?;
        let conflicts = match results.get(counters) {
            Some(r) => conflicts_of(r)?,
            None => Conflicts::default(),
        };
        Ok((counts_of(hit, &results)?, conflicts))
    }
}

impl EventStore for Store {
    async fn insert_events(&self, events: &[Event]) -> Result<Vec<Event>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let statements = events
            .iter()
            .map(|e| {
                // The same row either way; a `once_since` event is inserted only when the user
                // has none of its kind since then (one probe of events_user).
                let values = [
                    num(e.at),
                    num(e.user_id),
                    text(e.kind.name()),
                    e.session.as_deref().map(text).unwrap_or(JsValue::NULL),
                    text(&e.ip),
                    text(&e.user_agent),
                    e.country.as_deref().map(text).unwrap_or(JsValue::NULL),
                    e.once_since.map(num).unwrap_or(JsValue::NULL),
                ];
                self.stmt(
                    "INSERT INTO events (at, user_id, kind, session, ip, user_agent, country) \
                     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE ?8 IS NULL OR NOT EXISTS \
                     (SELECT 1 FROM events WHERE user_id = ?2 AND kind = ?3 AND at >= ?8)",
                    &values,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let results = self.db.batch(statements).await?;
        let mut written = Vec::new();
        for (event, result) in events.iter().zip(results) {
            let meta = result.meta()?;
            if meta.as_ref().and_then(|m| m.changes).unwrap_or(0) > 0 {
                written.push(Event {
                    id: meta.and_then(|m| m.last_row_id).unwrap_or(0),
                    ..event.clone()
                });
            }
        }
        Ok(written)
    }

    async fn events(&self, user_id: i64, before: Option<i64>, limit: usize) -> Result<Vec<Event>> {
        #[derive(Deserialize)]
        struct Row {
            id: i64,
            at: i64,
            user_id: i64,
            kind: String,
            session: Option<String>,
            ip: String,
            user_agent: String,
            country: Option<String>,
        }
        let rows: Vec<Row> = self
            .stmt(
                "SELECT id, at, user_id, kind, session, ip, user_agent, country FROM events \
                 WHERE user_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
                &[
                    num(user_id),
                    num(before.unwrap_or(i64::MAX >> 11)),
                    num(i64::try_from(limit).unwrap_or(i64::MAX)),
                ],
            )?
            .all()
            .await?
            .results()?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(Event {
                    id: r.id,
                    kind: EventKind::parse(&r.kind)?,
                    at: r.at,
                    user_id: r.user_id,
                    session: r.session,
                    ip: r.ip,
                    user_agent: r.user_agent,
                    country: r.country,
                    once_since: None,
                })
            })
            .collect())
    }

    async fn purge_events(&self, before: i64, limit: usize) -> Result<usize> {
        let stmt = self.stmt(
            "DELETE FROM events WHERE rowid IN \
             (SELECT rowid FROM events WHERE at < ?1 LIMIT ?2)",
            &[num(before), num(i64::try_from(limit).unwrap_or(i64::MAX))],
        )?;
        self.changes(stmt).await
    }
}

impl SessionIndex for Store {
    async fn put_session(&self, record: &SessionRecord, now: i64) -> Result<()> {
        self.records()?.put_session(record, now).await
    }

    async fn sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>> {
        self.records()?.sessions(user_id).await
    }

    async fn session(&self, user_id: &str, id: &str) -> Result<Option<SessionRecord>> {
        self.records()?.session(user_id, id).await
    }

    async fn delete_session(&self, user_id: &str, id: &str) -> Result<()> {
        self.records()?.delete_session(user_id, id).await
    }
}

/// The refresh token's state and the user, from the results of [`Store::refresh_state_stmts`].
fn refresh_state_of(results: &[worker::D1Result]) -> Result<(RefreshState, Option<User>)> {
    #[derive(Deserialize)]
    struct Row {
        spent_at: Option<i64>,
        revoked: i64,
    }
    let state = match results.first() {
        Some(r) => r.results::<Row>()?.into_iter().next(),
        None => None,
    }
    .map(|r| RefreshState {
        spent_at: r.spent_at,
        family_revoked: r.revoked != 0,
    })
    .unwrap_or_default();
    let user = match results.get(1) {
        Some(r) => r.results::<UserRow>()?.into_iter().next().map(User::from),
        None => None,
    };
    Ok((state, user))
}

fn conflicts_of(result: &worker::D1Result) -> Result<Conflicts> {
    #[derive(Deserialize)]
    struct Row {
        name_taken: i64,
        email_owner: Option<i64>,
    }
    Ok(result
        .results::<Row>()?
        .first()
        .map(|r| Conflicts {
            name_taken: r.name_taken != 0,
            email_owner: r.email_owner,
        })
        .unwrap_or_default())
}

/// The hits each counter statement of `hit` returned, from the start of a batch's results; a
/// statement that returned no row (or a result that is missing) is `None`, never a guess: the
/// throttle fails closed on it.
fn counts_of(hit: &Hit, results: &[worker::D1Result]) -> Result<Counts> {
    #[derive(Deserialize)]
    struct Row {
        hits: i64,
    }
    let hits = |i: usize| -> Result<Option<i64>> {
        match results.get(i) {
            Some(r) => Ok(r.results::<Row>()?.first().map(|row| row.hits)),
            None => Ok(None),
        }
    };
    let reads_from = 1 + hit.subjects.len();
    Ok(Counts {
        client: hits(0)?,
        subjects: (1..reads_from).map(hits).collect::<Result<_>>()?,
        reads: (reads_from..reads_from + hit.reads.len())
            .map(hits)
            .collect::<Result<_>>()?,
    })
}

/// 16 random bytes: the mark a conditional batch writes to know that its own update won.
fn random_mark() -> Result<[u8; 16]> {
    let mut mark = [0u8; 16];
    getrandom::fill(&mut mark).map_err(|e| StorageError::Backend(format!("getrandom: {e}")))?;
    Ok(mark)
}

impl MfaStore for Store {
    async fn totp(&self, user_id: i64) -> Result<Option<TotpRecord>> {
        #[derive(Deserialize)]
        struct Row {
            secret: String,
            enabled: i64,
            last_step: i64,
            codes: i64,
        }
        let row: Option<Row> = self
            .stmt(
                "SELECT secret, enabled, last_step, \
                 (SELECT COUNT(*) FROM mfa_backup_codes c WHERE c.user_id = t.user_id) AS codes \
                 FROM mfa_totp t WHERE user_id = ?1",
                &[num(user_id)],
            )?
            .first(None)
            .await?;
        Ok(row.map(|r| TotpRecord {
            sealed_secret: r.secret,
            enabled: r.enabled != 0,
            last_step: r.last_step,
            backup_codes_left: usize::try_from(r.codes).unwrap_or(0),
        }))
    }

    async fn begin_totp(&self, user_id: i64, sealed_secret: &str, now: i64) -> Result<bool> {
        let stmt = self.stmt(
            "INSERT INTO mfa_totp (user_id, secret, enabled, last_step, created) \
             VALUES (?1, ?2, 0, 0, ?3) \
             ON CONFLICT(user_id) DO UPDATE SET secret = excluded.secret, created = excluded.created \
             WHERE mfa_totp.enabled = 0",
            &[num(user_id), text(sealed_secret), num(now)],
        )?;
        Ok(self.changes(stmt).await? > 0)
    }

    async fn enable_totp(
        &self,
        user_id: i64,
        sealed_secret: &str,
        step: i64,
        code_hashes: &[String],
    ) -> Result<bool> {
        // The enabling update decides, and marks the row with this request's random mark; the
        // codes and the user's flag follow in the same batch only where the mark is this one,
        // so a concurrent confirm that lost adds nothing.
        let mark = crate::tokens::auth_token::hex(&random_mark()?);
        let mut statements = vec![self.stmt(
            "UPDATE mfa_totp SET enabled = 1, last_step = ?3, enabled_by = ?4 \
             WHERE user_id = ?1 AND secret = ?2 AND enabled = 0",
            &[num(user_id), text(sealed_secret), num(step), text(&mark)],
        )?];
        for hash in code_hashes {
            statements.push(self.stmt(
                "INSERT INTO mfa_backup_codes (user_id, code_hash) SELECT ?1, ?2 WHERE EXISTS \
                 (SELECT 1 FROM mfa_totp WHERE user_id = ?1 AND enabled_by = ?3) \
                 ON CONFLICT DO NOTHING",
                &[num(user_id), text(hash), text(&mark)],
            )?);
        }
        statements.push(self.stmt(
            "UPDATE users SET mfa_enabled = 1 WHERE id = ?1 AND EXISTS \
             (SELECT 1 FROM mfa_totp WHERE user_id = ?1 AND enabled_by = ?2)",
            &[num(user_id), text(&mark)],
        )?);
        let results = self.db.batch(statements).await?;
        let won = match results.first() {
            Some(r) => r.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0,
            None => false,
        };
        Ok(won)
    }

    async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool> {
        let stmt = self.stmt(
            "UPDATE mfa_totp SET last_step = ?2 WHERE user_id = ?1 AND enabled = 1 AND last_step < ?2",
            &[num(user_id), num(step)],
        )?;
        Ok(self.changes(stmt).await? > 0)
    }

    async fn use_backup_code(&self, user_id: i64, code_hash: &str) -> Result<bool> {
        let stmt = self.stmt(
            "DELETE FROM mfa_backup_codes WHERE user_id = ?1 AND code_hash = ?2",
            &[num(user_id), text(code_hash)],
        )?;
        Ok(self.changes(stmt).await? > 0)
    }

    async fn replace_backup_codes(&self, user_id: i64, code_hashes: &[String]) -> Result<()> {
        let mut statements = vec![self.stmt(
            "DELETE FROM mfa_backup_codes WHERE user_id = ?1",
            &[num(user_id)],
        )?];
        for hash in code_hashes {
            statements.push(self.stmt(
                "INSERT INTO mfa_backup_codes (user_id, code_hash) VALUES (?1, ?2) \
                 ON CONFLICT DO NOTHING",
                &[num(user_id), text(hash)],
            )?);
        }
        self.db.batch(statements).await?;
        Ok(())
    }

    async fn disable_totp(&self, user_id: i64) -> Result<()> {
        let id = [num(user_id)];
        self.db
            .batch(vec![
                self.stmt("DELETE FROM mfa_backup_codes WHERE user_id = ?1", &id)?,
                self.stmt("DELETE FROM mfa_challenges WHERE user_id = ?1", &id)?,
                self.stmt("DELETE FROM mfa_totp WHERE user_id = ?1", &id)?,
                self.stmt("UPDATE users SET mfa_enabled = 0 WHERE id = ?1", &id)?,
            ])
            .await?;
        Ok(())
    }

    async fn create_challenge(&self, c: &Challenge) -> Result<()> {
        self.stmt(
            "INSERT INTO mfa_challenges (id, user_id, purpose, binding, failures, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                text(&c.id),
                num(c.user_id),
                text(&c.purpose),
                text(&c.binding),
                num(c.failures),
                num(c.expires_at),
            ],
        )?
        .run()
        .await?;
        Ok(())
    }

    async fn challenge(&self, id: &str, now: i64) -> Result<Option<Challenge>> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
            user_id: i64,
            purpose: String,
            binding: String,
            failures: i64,
            expires_at: i64,
        }
        let row: Option<Row> = self
            .stmt(
                "SELECT id, user_id, purpose, binding, failures, expires_at FROM mfa_challenges \
                 WHERE id = ?1 AND expires_at > ?2",
                &[text(id), num(now)],
            )?
            .first(None)
            .await?;
        Ok(row.map(|r| Challenge {
            id: r.id,
            user_id: r.user_id,
            purpose: r.purpose,
            binding: r.binding,
            failures: r.failures,
            expires_at: r.expires_at,
        }))
    }

    async fn fail_challenge(&self, id: &str, max: i64) -> Result<()> {
        self.db
            .batch(vec![
                self.stmt(
                    "UPDATE mfa_challenges SET failures = failures + 1 WHERE id = ?1",
                    &[text(id)],
                )?,
                self.stmt(
                    "DELETE FROM mfa_challenges WHERE id = ?1 AND failures >= ?2",
                    &[text(id), num(max)],
                )?,
            ])
            .await?;
        Ok(())
    }

    async fn consume_challenge(&self, id: &str) -> Result<bool> {
        let stmt = self.stmt("DELETE FROM mfa_challenges WHERE id = ?1", &[text(id)])?;
        Ok(self.changes(stmt).await? > 0)
    }
}

#[derive(Deserialize)]
struct PasskeyRow {
    id: i64,
    user_id: i64,
    credential_id: String,
    public_key: String,
    sign_count: i64,
    ukey: String,
    name: String,
    created: i64,
    last_used: Option<i64>,
}

impl From<PasskeyRow> for PasskeyCredential {
    fn from(r: PasskeyRow) -> Self {
        PasskeyCredential {
            id: r.id,
            user_id: r.user_id,
            credential_id: r.credential_id,
            public_key: r.public_key,
            sign_count: r.sign_count,
            ukey: r.ukey,
            name: r.name,
            created: r.created,
            last_used: r.last_used,
        }
    }
}

#[derive(Deserialize)]
struct PasskeyChallengeRow {
    challenge: String,
    purpose: String,
    ukey: Option<String>,
    username: Option<String>,
    display_name: Option<String>,
    user_id: Option<i64>,
    expires_at: i64,
}

impl From<PasskeyChallengeRow> for PasskeyChallenge {
    fn from(r: PasskeyChallengeRow) -> Self {
        PasskeyChallenge {
            challenge: r.challenge,
            purpose: r.purpose,
            ukey: r.ukey,
            username: r.username,
            display_name: r.display_name,
            user_id: r.user_id,
            expires_at: r.expires_at,
        }
    }
}

const PASSKEY_COLUMNS: &str =
    "id, user_id, credential_id, public_key, sign_count, ukey, name, created, last_used";
const PASSKEY_CHALLENGE_COLUMNS: &str =
    "challenge, purpose, ukey, username, display_name, user_id, expires_at";

fn opt_text(s: Option<&str>) -> JsValue {
    s.map(text).unwrap_or(JsValue::NULL)
}

impl PasskeyStore for Store {
    async fn create_passkey_challenge(&self, c: &PasskeyChallenge) -> Result<()> {
        let stmt = self.stmt(
            "INSERT INTO webauthn_challenges \
             (challenge, purpose, ukey, username, display_name, user_id, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &[
                text(&c.challenge),
                text(&c.purpose),
                opt_text(c.ukey.as_deref()),
                opt_text(c.username.as_deref()),
                opt_text(c.display_name.as_deref()),
                opt_num(c.user_id),
                num(c.expires_at),
            ],
        )?;
        stmt.run().await?;
        Ok(())
    }

    async fn signup_challenge(&self, ukey: &str, now: i64) -> Result<Option<PasskeyChallenge>> {
        let row: Option<PasskeyChallengeRow> = self
            .stmt(
                &format!(
                    "SELECT {PASSKEY_CHALLENGE_COLUMNS} FROM webauthn_challenges \
                     WHERE ukey = ?1 AND purpose = 'signup' AND expires_at > ?2"
                ),
                &[text(ukey), num(now)],
            )?
            .first(None)
            .await?;
        Ok(row.map(PasskeyChallenge::from))
    }

    async fn take_passkey_challenge(
        &self,
        challenge: &str,
        purpose: &str,
        now: i64,
    ) -> Result<Option<PasskeyChallenge>> {
        let row: Option<PasskeyChallengeRow> = self
            .stmt(
                &format!(
                    "DELETE FROM webauthn_challenges \
                     WHERE challenge = ?1 AND purpose = ?2 AND expires_at > ?3 \
                     RETURNING {PASSKEY_CHALLENGE_COLUMNS}"
                ),
                &[text(challenge), text(purpose), num(now)],
            )?
            .first(None)
            .await?;
        Ok(row.map(PasskeyChallenge::from))
    }

    async fn passkeys(&self, user_id: i64) -> Result<Vec<PasskeyCredential>> {
        let rows: Vec<PasskeyRow> = self
            .stmt(
                &format!(
                    "SELECT {PASSKEY_COLUMNS} FROM webauthn_credentials \
                     WHERE user_id = ?1 ORDER BY id"
                ),
                &[num(user_id)],
            )?
            .all()
            .await?
            .results()?;
        Ok(rows.into_iter().map(PasskeyCredential::from).collect())
    }

    async fn passkey_by_credential_id(
        &self,
        credential_id: &str,
    ) -> Result<Option<PasskeyCredential>> {
        let row: Option<PasskeyRow> = self
            .stmt(
                &format!(
                    "SELECT {PASSKEY_COLUMNS} FROM webauthn_credentials WHERE credential_id = ?1"
                ),
                &[text(credential_id)],
            )?
            .first(None)
            .await?;
        Ok(row.map(PasskeyCredential::from))
    }

    async fn add_passkey(&self, c: &PasskeyCredential) -> Result<i64> {
        #[derive(Deserialize)]
        struct Row {
            id: i64,
        }
        let row: Option<Row> = self
            .stmt(
                "INSERT INTO webauthn_credentials \
                 (user_id, credential_id, public_key, sign_count, ukey, name, created) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
                &[
                    num(c.user_id),
                    text(&c.credential_id),
                    text(&c.public_key),
                    num(c.sign_count),
                    text(&c.ukey),
                    text(&c.name),
                    num(c.created),
                ],
            )?
            .first(None)
            .await?;
        row.map(|r| r.id)
            .ok_or_else(|| StorageError::Backend("insert returned no row".into()))
    }

    async fn advance_passkey(
        &self,
        id: i64,
        old_count: i64,
        new_count: i64,
        now: i64,
    ) -> Result<bool> {
        let stmt = self.stmt(
            "UPDATE webauthn_credentials SET sign_count = ?3, last_used = ?4 \
             WHERE id = ?1 AND sign_count = ?2",
            &[num(id), num(old_count), num(new_count), num(now)],
        )?;
        Ok(self.changes(stmt).await? > 0)
    }

    async fn rename_passkey(&self, user_id: i64, id: i64, name: &str) -> Result<bool> {
        let stmt = self.stmt(
            "UPDATE webauthn_credentials SET name = ?3 WHERE id = ?1 AND user_id = ?2",
            &[num(id), num(user_id), text(name)],
        )?;
        Ok(self.changes(stmt).await? > 0)
    }

    async fn delete_passkey(&self, user_id: i64, id: i64) -> Result<bool> {
        let stmt = self.stmt(
            "DELETE FROM webauthn_credentials WHERE id = ?1 AND user_id = ?2",
            &[num(id), num(user_id)],
        )?;
        Ok(self.changes(stmt).await? > 0)
    }
}

impl SocialStore for Store {
    async fn create_social_state(&self, st: &SocialState) -> Result<()> {
        self.stmt(
            "INSERT INTO social_states (id, provider, redirect_uri, verifier, nonce, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[
                text(&st.id),
                text(&st.provider),
                text(&st.redirect_uri),
                text(&st.verifier),
                text(&st.nonce),
                num(st.expires_at),
            ],
        )?
        .run()
        .await?;
        Ok(())
    }

    async fn consume_social_state(
        &self,
        id: &str,
        provider: &str,
        now: i64,
    ) -> Result<Option<SocialState>> {
        #[derive(Deserialize)]
        struct Row {
            id: String,
            provider: String,
            redirect_uri: String,
            verifier: String,
            nonce: String,
            expires_at: i64,
        }
        // One statement: the DELETE is the arbiter, only the caller whose DELETE removed the
        // row gets it back.
        let row: Option<Row> = self
            .stmt(
                "DELETE FROM social_states WHERE id = ?1 AND provider = ?2 AND expires_at > ?3 \
                 RETURNING id, provider, redirect_uri, verifier, nonce, expires_at",
                &[text(id), text(provider), num(now)],
            )?
            .first(None)
            .await?;
        Ok(row.map(|r| SocialState {
            id: r.id,
            provider: r.provider,
            redirect_uri: r.redirect_uri,
            verifier: r.verifier,
            nonce: r.nonce,
            expires_at: r.expires_at,
        }))
    }

    async fn social_user(&self, provider: &str, subject: &str, now: i64) -> Result<Option<User>> {
        let columns = USER_COLUMNS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let results = self
            .db
            .batch(vec![
                self.stmt(
                    "UPDATE social_accounts SET last_login = ?3 WHERE provider = ?1 AND subject = ?2",
                    &[text(provider), text(subject), num(now)],
                )?,
                self.stmt(
                    &format!(
                        "SELECT {columns} FROM social_accounts s JOIN users u ON u.id = s.user_id \
                         WHERE s.provider = ?1 AND s.subject = ?2"
                    ),
                    &[text(provider), text(subject)],
                )?,
            ])
            .await?;
        let rows: Vec<UserRow> = match results.get(1) {
            Some(r) => r.results()?,
            None => Vec::new(),
        };
        Ok(rows.into_iter().next().map(User::from))
    }

    async fn link_social(&self, link: &SocialLink<'_>) -> Result<bool> {
        let stmt = self.stmt(
            "INSERT INTO social_accounts (provider, subject, user_id, email, created, last_login) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (provider, subject) DO NOTHING",
            &[
                text(link.provider),
                text(link.subject),
                num(link.user_id),
                text(link.email),
                num(link.now),
            ],
        )?;
        Ok(self.changes(stmt).await? > 0)
    }
}
