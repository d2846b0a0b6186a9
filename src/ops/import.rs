//! `npm run import-djoser`: Django's `manage.py dumpdata auth.user authtoken.token
//! token_blacklist` (JSON) as the Worker's rows.
//!
//! The whole dump is read and checked against what D1 already holds before a single statement is
//! made: a broken row is an error naming its model and pk, and then nothing is written. Rows
//! already in D1 are counted as present and left alone, so a re-run writes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Map, Value};

use super::time::parse_iso;
use super::{int_or_null, quote};
use crate::domain::user::email_key;
use crate::flows::session::family_of;
use crate::tokens::auth_token;
use crate::tokens::password_hash::is_verifiable_format;

const USER: &str = "auth.user";
const TOKEN: &str = "authtoken.token";
const OUTSTANDING: &str = "token_blacklist.outstandingtoken";
const BLACKLISTED: &str = "token_blacklist.blacklistedtoken";

/// Django's column lengths (auth.User), which also bound every statement's size.
const MAX_USERNAME: usize = 150;
const MAX_EMAIL: usize = 254;
const MAX_NAME: usize = 150;
/// Django's password column holds 128; a little room for customised projects.
const MAX_PASSWORD: usize = 512;

/// What to do with users whose e-mails are equal but for case (djoser allows them; this service
/// keeps e-mails unique).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateEmails {
    /// Refuse the import and list every group.
    Refuse,
    /// The user with the lowest id (or the one already in D1) keeps the address; the others are
    /// imported with no e-mail, and listed.
    KeepFirstClearOthers,
}

impl DuplicateEmails {
    /// The `--duplicate-emails=` value.
    pub fn parse(value: &str) -> Option<DuplicateEmails> {
        match value {
            "refuse" => Some(DuplicateEmails::Refuse),
            "keep-first-clear-others" => Some(DuplicateEmails::KeepFirstClearOthers),
            _ => None,
        }
    }
}

/// A user already in D1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingUser {
    /// Its id.
    pub id: i64,
    /// Its username.
    pub username: String,
    /// Its lower-cased e-mail ("" for none).
    pub email_key: String,
}

/// What D1 already holds, as far as the import needs to know.
#[derive(Debug, Clone, Default)]
pub struct Existing {
    /// Every user.
    pub users: Vec<ExistingUser>,
    /// Every DRF token: key → user id.
    pub tokens: HashMap<String, i64>,
    /// Every revoked family.
    pub families: HashSet<String>,
}

impl Existing {
    /// Reads `{"users":[{id,username,email_key}],"tokens":[{key,user_id}],"families":[{family}]}`
    /// (what scripts/import-djoser.mjs gathers from D1).
    pub fn from_json(value: &Value) -> Result<Existing, String> {
        let rows = |name: &str| -> Result<Vec<Value>, String> {
            match value.get(name) {
                Some(Value::Array(rows)) => Ok(rows.clone()),
                _ => Err(format!("existing state: no {name} array")),
            }
        };
        let text = |row: &Value, field: &str| -> Result<String, String> {
            row.get(field)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("existing state: a row without text {field}"))
        };
        let int = |row: &Value, field: &str| -> Result<i64, String> {
            row.get(field)
                .and_then(Value::as_i64)
                .ok_or_else(|| format!("existing state: a row without integer {field}"))
        };
        let mut existing = Existing::default();
        for row in rows("users")? {
            existing.users.push(ExistingUser {
                id: int(&row, "id")?,
                username: text(&row, "username")?,
                email_key: text(&row, "email_key")?,
            });
        }
        for row in rows("tokens")? {
            existing
                .tokens
                .insert(text(&row, "key")?, int(&row, "user_id")?);
        }
        for row in rows("families")? {
            existing.families.insert(text(&row, "family")?);
        }
        Ok(existing)
    }
}

/// A user as it will be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Django's pk, kept.
    pub id: i64,
    /// The username.
    pub username: String,
    /// The e-mail as Django stored it ("" when none, or cleared as a duplicate).
    pub email: String,
    /// The stored hash: Django's when the Worker verifies it, else `!` and Django's.
    pub password: String,
    /// `is_active`.
    pub is_active: bool,
    /// `is_staff`, or `is_superuser` (this service has staff only).
    pub is_staff: bool,
    /// `first_name`.
    pub first_name: String,
    /// `last_name`.
    pub last_name: String,
    /// `last_login`, unix seconds.
    pub last_login: Option<i64>,
    /// `date_joined`, unix seconds.
    pub date_joined: i64,
    /// Inactive and never logged in: taken as waiting for its activation link (as migration
    /// 0003 decided for rows copied by hand); other inactive users count as disabled.
    pub activation_pending: bool,
}

/// A DRF token to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// The 40-hex key, stored as it is (the Worker looks keys up as given).
    pub key: String,
    /// Its user.
    pub user_id: i64,
    /// `created`, unix seconds.
    pub created: i64,
}

/// A blacklisted SimpleJWT refresh token, as the revoked family the Worker refuses it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedRow {
    /// `family_of(jti)`.
    pub family: String,
    /// The token's user id as text ("" when SimpleJWT had none).
    pub user_id: String,
    /// `blacklisted_at`.
    pub revoked_at: i64,
    /// The token's `expires_at`: the row can go once the token is dead anyway.
    pub expires_at: i64,
}

/// A user imported with a password that cannot be used here (they reset it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    /// The user's id.
    pub id: i64,
    /// The username.
    pub username: String,
    /// Django's hasher name, or why.
    pub reason: String,
}

/// Everything the import will do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Users to insert.
    pub users: Vec<UserRow>,
    /// Users of the dump already in D1 (same id and username).
    pub users_present: usize,
    /// DRF tokens to insert.
    pub tokens: Vec<TokenRow>,
    /// Tokens already in D1.
    pub tokens_present: usize,
    /// Tokens of users who already have another key in D1 (a newer login there): not imported.
    pub tokens_superseded: Vec<String>,
    /// Blacklisted refresh tokens to refuse.
    pub revoked: Vec<RevokedRow>,
    /// Blacklisted tokens already refused in D1.
    pub revoked_present: usize,
    /// Blacklisted tokens past their expiry (dead anyway): nothing to store.
    pub revoked_expired: usize,
    /// Outstanding (issued, not blacklisted) refresh tokens: accepted as validly signed, nothing
    /// to store.
    pub outstanding_live: usize,
    /// New users whose password cannot be used here.
    pub unusable: Vec<Unusable>,
    /// New users imported without their e-mail (`keep-first-clear-others`): (id, username, e-mail).
    pub cleared_emails: Vec<(i64, String, String)>,
}

/// Why a dump cannot be imported: every problem found, each naming its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError(pub Vec<String>);

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: usize = 50;
        writeln!(f, "the dump cannot be imported; nothing was written:")?;
        for problem in self.0.iter().take(SHOWN) {
            writeln!(f, "  - {problem}")?;
        }
        if self.0.len() > SHOWN {
            writeln!(f, "  ... and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// One dump row's fields, with the checks that name the row in their errors.
struct Row<'a> {
    model: &'a str,
    pk: String,
    fields: &'a Map<String, Value>,
    problems: &'a mut Vec<String>,
}

impl Row<'_> {
    fn fail(&mut self, what: String) {
        self.problems
            .push(format!("{} pk {}: {what}", self.model, self.pk));
    }

    fn text(&mut self, name: &str, max: usize) -> String {
        match self.fields.get(name) {
            Some(Value::String(s)) if s.contains('\0') => {
                self.fail(format!("field {name:?} holds a NUL character"));
                String::new()
            }
            Some(Value::String(s)) if s.chars().count() > max => {
                self.fail(format!("field {name:?} is longer than {max} characters"));
                String::new()
            }
            Some(Value::String(s)) => s.clone(),
            other => {
                self.fail(format!(
                    "field {name:?} should be text, is {}",
                    shown(other)
                ));
                String::new()
            }
        }
    }

    fn flag(&mut self, name: &str) -> bool {
        match self.fields.get(name) {
            Some(Value::Bool(b)) => *b,
            other => {
                self.fail(format!(
                    "field {name:?} should be true or false, is {}",
                    shown(other)
                ));
                false
            }
        }
    }

    fn time(&mut self, name: &str) -> i64 {
        self.time_or_null(name, false).unwrap_or(0)
    }

    fn time_or_null(&mut self, name: &str, nullable: bool) -> Option<i64> {
        match self.fields.get(name) {
            Some(Value::Null) if nullable => None,
            Some(Value::String(s)) => {
                let at = parse_iso(s);
                if at.is_none() {
                    self.fail(format!("field {name:?} is not an ISO 8601 time: {s:?}"));
                }
                at
            }
            other => {
                self.fail(format!(
                    "field {name:?} should be a time, is {}",
                    shown(other)
                ));
                None
            }
        }
    }

    fn id(&mut self, name: &str, nullable: bool) -> Option<i64> {
        match self.fields.get(name) {
            Some(Value::Null) if nullable => None,
            Some(Value::Number(n)) if n.as_i64().is_some_and(|v| v > 0) => n.as_i64(),
            other => {
                self.fail(format!(
                    "field {name:?} should be a positive id, is {}",
                    shown(other)
                ));
                None
            }
        }
    }
}

fn shown(value: Option<&Value>) -> String {
    match value {
        None => "missing".into(),
        Some(v) => {
            let text = v.to_string();
            if text.chars().count() > 40 {
                format!("{}…", text.chars().take(40).collect::<String>())
            } else {
                text
            }
        }
    }
}

/// Django's hasher name of a stored hash (what comes before the first `$`).
fn hasher_name(stored: &str) -> &str {
    stored.split('$').next().unwrap_or("")
}

/// The hash to store and, when it cannot be used here, why.
fn map_password(stored: &str) -> (String, Option<String>) {
    if stored.is_empty() {
        return ("!".into(), Some("no password".into()));
    }
    if stored.starts_with('!') {
        return (stored.into(), Some("unusable in Django already".into()));
    }
    if is_verifiable_format(stored) {
        return (stored.into(), None);
    }
    // Kept behind `!`: unusable (Django's own convention), yet nothing of it is lost.
    let name = hasher_name(stored);
    let reason = if name.is_empty() || name == stored {
        "an unknown hash format".to_string()
    } else {
        format!("{name} is not verified by this service")
    };
    (format!("!{stored}"), Some(reason))
}

/// Reads the dump and decides every row against `existing`; `now` (unix seconds) decides which
/// blacklisted tokens are already dead.
pub fn plan(
    dump: &str,
    existing: &Existing,
    duplicates: DuplicateEmails,
    now: i64,
) -> Result<Plan, ImportError> {
    let value: Value = serde_json::from_str(dump).map_err(|e| {
        ImportError(vec![format!(
            "not JSON ({e}): expected the output of manage.py dumpdata"
        )])
    })?;
    let Value::Array(records) = value else {
        return Err(ImportError(vec![
            "not a dumpdata file: expected a JSON array of {\"model\", \"pk\", \"fields\"} objects"
                .into(),
        ]));
    };
    let mut problems = Vec::new();
    let mut users = Vec::new();
    let mut tokens = Vec::new();
    let mut outstanding: HashMap<i64, (String, Option<i64>, i64)> = HashMap::new();
    let mut blacklisted = Vec::new();
    let mut seen_pks: HashSet<(String, String)> = HashSet::new();

    for (index, record) in records.iter().enumerate() {
        let model = record.get("model").and_then(Value::as_str);
        let fields = record.get("fields").and_then(Value::as_object);
        let (Some(model), Some(fields)) = (model, fields) else {
            problems.push(format!(
                "record {} is not a dumpdata object with \"model\" and \"fields\"",
                index + 1
            ));
            continue;
        };
        let pk_value = record.get("pk");
        let pk = match pk_value {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            other => {
                problems.push(format!(
                    "{model} record {}: pk is {}",
                    index + 1,
                    shown(other)
                ));
                continue;
            }
        };
        if !seen_pks.insert((model.to_string(), pk.clone())) {
            problems.push(format!("{model} pk {pk}: appears twice in the dump"));
            continue;
        }
        let mut row = Row {
            model,
            pk: pk.clone(),
            fields,
            problems: &mut problems,
        };
        let int_pk = pk_value.and_then(Value::as_i64).filter(|v| *v > 0);
        match model {
            USER => {
                let Some(id) = int_pk else {
                    row.fail("pk should be a positive integer".into());
                    continue;
                };
                let before = row.problems.len();
                let username = row.text("username", MAX_USERNAME);
                if username.is_empty() && row.problems.len() == before {
                    row.fail("the username is empty".into());
                }
                let email = row.text("email", MAX_EMAIL);
                let password = row.text("password", MAX_PASSWORD);
                let first_name = row.text("first_name", MAX_NAME);
                let last_name = row.text("last_name", MAX_NAME);
                let is_active = row.flag("is_active");
                let is_staff = row.flag("is_staff");
                let is_superuser = row.flag("is_superuser");
                let last_login = row.time_or_null("last_login", true);
                let date_joined = row.time("date_joined");
                users.push((
                    UserRow {
                        id,
                        username,
                        email,
                        password,
                        is_active,
                        is_staff: is_staff || is_superuser,
                        first_name,
                        last_name,
                        last_login,
                        date_joined,
                        activation_pending: !is_active && last_login.is_none(),
                    },
                    index,
                ));
            }
            TOKEN => {
                if !auth_token::is_well_formed(&pk) {
                    row.fail("the key should be 40 lowercase hex characters".into());
                    continue;
                }
                let user = row.id("user", false);
                let created = row.time("created");
                if let Some(user_id) = user {
                    tokens.push(TokenRow {
                        key: pk,
                        user_id,
                        created,
                    });
                }
            }
            OUTSTANDING => {
                let Some(id) = int_pk else {
                    row.fail("pk should be a positive integer".into());
                    continue;
                };
                let before = row.problems.len();
                let jti = row.text("jti", 255);
                if jti.is_empty() && row.problems.len() == before {
                    row.fail("the jti is empty".into());
                }
                let user = row.id("user", true);
                let expires_at = row.time("expires_at");
                outstanding.insert(id, (jti, user, expires_at));
            }
            BLACKLISTED => {
                let token = row.id("token", false);
                let at = row.time("blacklisted_at");
                if let Some(token) = token {
                    blacklisted.push((pk, token, at));
                }
            }
            other => problems.push(format!(
                "{other} pk {pk}: not a model this import reads (dump only {USER}, {TOKEN} and \
                 token_blacklist)"
            )),
        }
    }

    let mut plan = Plan::default();
    decide_users(&mut plan, users, existing, duplicates, &mut problems);
    decide_tokens(&mut plan, tokens, existing, &mut problems);
    // Blacklisted tokens, through the outstanding token that holds their jti.
    let mut blacklisted_jtis = HashSet::new();
    for (pk, token, revoked_at) in blacklisted {
        let Some((jti, user, expires_at)) = outstanding.get(&token) else {
            problems.push(format!(
                "{BLACKLISTED} pk {pk}: its token {token} is not in the dump's {OUTSTANDING} rows"
            ));
            continue;
        };
        blacklisted_jtis.insert(token);
        let family = family_of(jti);
        if *expires_at <= now {
            plan.revoked_expired += 1;
        } else if existing.families.contains(&family)
            || plan.revoked.iter().any(|r| r.family == family)
        {
            plan.revoked_present += 1;
        } else {
            plan.revoked.push(RevokedRow {
                family,
                user_id: user.map(|u| u.to_string()).unwrap_or_default(),
                revoked_at,
                expires_at: *expires_at,
            });
        }
    }
    plan.outstanding_live = outstanding
        .iter()
        .filter(|(id, (_, _, exp))| !blacklisted_jtis.contains(*id) && *exp > now)
        .count();
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(ImportError(problems))
    }
}

fn decide_users(
    plan: &mut Plan,
    mut users: Vec<(UserRow, usize)>,
    existing: &Existing,
    duplicates: DuplicateEmails,
    problems: &mut Vec<String>,
) {
    users.sort_by_key(|(u, _)| u.id);
    let by_id: HashMap<i64, &ExistingUser> = existing.users.iter().map(|u| (u.id, u)).collect();
    let by_name: HashMap<&str, i64> = existing
        .users
        .iter()
        .map(|u| (u.username.as_str(), u.id))
        .collect();
    // E-mail key → who holds it: D1's users first, then the dump's in id order.
    let mut holders: BTreeMap<String, Vec<(i64, String, bool)>> = BTreeMap::new();
    for u in &existing.users {
        if !u.email_key.is_empty() {
            holders
                .entry(u.email_key.clone())
                .or_default()
                .push((u.id, u.username.clone(), true));
        }
    }
    let mut dump_names: HashMap<String, i64> = HashMap::new();
    let mut fresh = Vec::new();
    for (user, _) in users {
        if let Some(other) = dump_names.insert(user.username.clone(), user.id) {
            problems.push(format!(
                "{USER} pk {}: username {:?} is also pk {other}'s",
                user.id, user.username
            ));
            continue;
        }
        match by_id.get(&user.id) {
            Some(there) if there.username == user.username => {
                plan.users_present += 1;
                continue;
            }
            Some(there) => {
                problems.push(format!(
                    "{USER} pk {} ({:?}): id {} belongs to another user in D1 ({:?})",
                    user.id, user.username, user.id, there.username
                ));
                continue;
            }
            None => {}
        }
        if let Some(other) = by_name.get(user.username.as_str()) {
            problems.push(format!(
                "{USER} pk {}: username {:?} belongs to user {other} in D1",
                user.id, user.username
            ));
            continue;
        }
        let key = email_key(&user.email);
        if !key.is_empty() {
            holders
                .entry(key)
                .or_default()
                .push((user.id, user.username.clone(), false));
        }
        fresh.push(user);
    }
    // Every address held by more than one user.
    let mut clear = HashSet::new();
    for (key, group) in holders.iter().filter(|(_, g)| g.len() > 1) {
        match duplicates {
            DuplicateEmails::Refuse => {
                let who = group
                    .iter()
                    .map(|(id, name, in_d1)| {
                        format!("{id} ({name:?}{})", if *in_d1 { ", in D1" } else { "" })
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                problems.push(format!(
                    "{USER}: e-mail {key:?} (case-insensitively) is shared by users {who}; this \
                     service keeps e-mails unique: fix them in Django, or pass \
                     --duplicate-emails=keep-first-clear-others"
                ));
            }
            DuplicateEmails::KeepFirstClearOthers => {
                clear.extend(group.iter().skip(1).map(|(id, _, _)| *id));
            }
        }
    }
    for mut user in fresh {
        if clear.contains(&user.id) {
            plan.cleared_emails
                .push((user.id, user.username.clone(), user.email.clone()));
            user.email.clear();
        }
        let (password, reason) = map_password(&user.password);
        if let Some(reason) = reason {
            plan.unusable.push(Unusable {
                id: user.id,
                username: user.username.clone(),
                reason,
            });
        }
        user.password = password;
        plan.users.push(user);
    }
}

fn decide_tokens(
    plan: &mut Plan,
    tokens: Vec<TokenRow>,
    existing: &Existing,
    problems: &mut Vec<String>,
) {
    let known: HashSet<i64> = plan
        .users
        .iter()
        .map(|u| u.id)
        .chain(existing.users.iter().map(|u| u.id))
        .collect();
    let holders: HashMap<i64, &String> = existing.tokens.iter().map(|(k, u)| (*u, k)).collect();
    let mut per_user = HashSet::new();
    for token in tokens {
        if !known.contains(&token.user_id) {
            problems.push(format!(
                "{TOKEN} pk {}: its user {} is neither in the dump nor in D1",
                token.key, token.user_id
            ));
            continue;
        }
        if !per_user.insert(token.user_id) {
            problems.push(format!(
                "{TOKEN} pk {}: user {} has two tokens in the dump",
                token.key, token.user_id
            ));
            continue;
        }
        match existing.tokens.get(&token.key) {
            Some(owner) if *owner == token.user_id => plan.tokens_present += 1,
            Some(owner) => problems.push(format!(
                "{TOKEN} pk {}: the key belongs to user {owner} in D1, not {}",
                token.key, token.user_id
            )),
            None if holders.contains_key(&token.user_id) => {
                plan.tokens_superseded.push(token.key.clone());
            }
            None => plan.tokens.push(token),
        }
    }
}

/// The plan's statements, in write order (users before the tokens that name them). Each is
/// idempotent (`ON CONFLICT DO NOTHING`) and a few hundred bytes at most.
pub fn statements(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for u in &plan.users {
        out.push(format!(
            "INSERT INTO users (id, username, email, email_key, password, is_active, is_staff, \
             first_name, last_name, last_login, date_joined, tokens_valid_after, \
             activation_pending) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 0, {}) \
             ON CONFLICT DO NOTHING;",
            u.id,
            quote(&u.username),
            quote(&u.email),
            quote(&email_key(&u.email)),
            quote(&u.password),
            i64::from(u.is_active),
            i64::from(u.is_staff),
            quote(&u.first_name),
            quote(&u.last_name),
            int_or_null(u.last_login),
            u.date_joined,
            i64::from(u.activation_pending),
        ));
    }
    for t in &plan.tokens {
        out.push(format!(
            "INSERT INTO auth_tokens (key, user_id, created) VALUES ({}, {}, {}) \
             ON CONFLICT DO NOTHING;",
            quote(&t.key),
            t.user_id,
            t.created
        ));
    }
    for r in &plan.revoked {
        out.push(format!(
            "INSERT INTO revoked_families (family, user_id, revoked_at, expires_at) \
             VALUES ({}, {}, {}, {}) ON CONFLICT DO NOTHING;",
            quote(&r.family),
            quote(&r.user_id),
            r.revoked_at,
            r.expires_at
        ));
    }
    out
}

/// Groups statements into batches of at most `max_bytes` each (a statement is never split).
pub fn batches(statements: &[String], max_bytes: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for s in statements {
        if !current.is_empty() && current.len() + s.len() + 1 > max_bytes {
            out.push(std::mem::take(&mut current));
        }
        current.push_str(s);
        current.push('\n');
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// The plan's counts and lists, for the report.
pub fn summary(plan: &Plan) -> Value {
    json!({
        "users": { "new": plan.users.len(), "present": plan.users_present },
        "tokens": {
            "new": plan.tokens.len(),
            "present": plan.tokens_present,
            "superseded": plan.tokens_superseded,
        },
        "blacklisted": {
            "new": plan.revoked.len(),
            "present": plan.revoked_present,
            "expired": plan.revoked_expired,
        },
        "outstanding_live": plan.outstanding_live,
        "unusable": plan.unusable.iter().map(|u| json!({
            "id": u.id, "username": u.username, "reason": u.reason,
        })).collect::<Vec<_>>(),
        "cleared_emails": plan.cleared_emails.iter().map(|(id, name, email)| json!({
            "id": id, "username": name, "email": email,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/django/dump.json");
    const NOW: i64 = 1_800_000_000;

    fn user(pk: i64, username: &str, email: &str, password: &str) -> Value {
        json!({"model": "auth.user", "pk": pk, "fields": {
            "password": password, "last_login": null, "is_superuser": false,
            "username": username, "first_name": "", "last_name": "", "email": email,
            "is_staff": false, "is_active": true, "date_joined": "2024-01-02T03:04:05Z",
            "groups": [], "user_permissions": []}})
    }

    fn run(
        rows: &[Value],
        existing: &Existing,
        duplicates: DuplicateEmails,
    ) -> Result<Plan, ImportError> {
        plan(
            &Value::Array(rows.to_vec()).to_string(),
            existing,
            duplicates,
            NOW,
        )
    }

    fn existing_after(plan: &Plan) -> Existing {
        Existing {
            users: plan
                .users
                .iter()
                .map(|u| ExistingUser {
                    id: u.id,
                    username: u.username.clone(),
                    email_key: email_key(&u.email),
                })
                .collect(),
            tokens: plan
                .tokens
                .iter()
                .map(|t| (t.key.clone(), t.user_id))
                .collect(),
            families: plan.revoked.iter().map(|r| r.family.clone()).collect(),
        }
    }

    #[test]
    fn the_django_fixture_maps_every_row_and_a_second_run_finds_nothing_new() {
        let first = plan(FIXTURE, &Existing::default(), DuplicateEmails::Refuse, NOW).unwrap();
        assert_eq!(first.users.len(), 8);
        assert_eq!(first.tokens.len(), 2);
        assert_eq!(first.revoked.len(), 1);
        assert_eq!(first.outstanding_live, 1);
        let alice = &first.users[0];
        assert_eq!((alice.id, alice.username.as_str()), (1, "alice"));
        assert_eq!(alice.last_login, Some(1_741_964_966));
        assert_eq!(alice.date_joined, 1_704_164_645);
        let root = first.users.iter().find(|u| u.username == "root").unwrap();
        assert!(root.is_staff);
        let erin = first.users.iter().find(|u| u.username == "erin").unwrap();
        assert!(!erin.is_active && !erin.activation_pending);
        let unusable: Vec<_> = first.unusable.iter().map(|u| u.username.as_str()).collect();
        assert_eq!(unusable, ["dave", "frank"]);
        // The blacklisted token's family is what the Worker derives from its jti.
        assert_eq!(
            first.revoked[0].family,
            family_of("668899c784e1466c998b39f4f90da33d")
        );
        assert_eq!(first.revoked[0].user_id, "1");

        let second = plan(
            FIXTURE,
            &existing_after(&first),
            DuplicateEmails::Refuse,
            NOW,
        )
        .unwrap();
        assert_eq!(
            (
                second.users.len(),
                second.tokens.len(),
                second.revoked.len()
            ),
            (0, 0, 0)
        );
        assert_eq!(
            (
                second.users_present,
                second.tokens_present,
                second.revoked_present
            ),
            (8, 2, 1)
        );
        assert!(statements(&second).is_empty());
    }

    #[test]
    fn every_statement_is_idempotent_and_quoted() {
        let rows = [user(1, "o'hara", "", "pbkdf2_sha256$1$s$h")];
        let plan = run(&rows, &Existing::default(), DuplicateEmails::Refuse).unwrap();
        let sql = statements(&plan);
        assert_eq!(sql.len(), 1);
        assert!(sql[0].contains("'o''hara'"), "{}", sql[0]);
        assert!(sql[0].ends_with("ON CONFLICT DO NOTHING;"));
    }

    #[test]
    fn duplicate_emails_are_refused_or_cleared_on_request_never_dropped() {
        let rows = [
            user(1, "a", "Same@Example.com", "!x"),
            user(2, "b", "same@example.COM", "!x"),
            user(3, "c", "other@example.com", "!x"),
        ];
        let err = run(&rows, &Existing::default(), DuplicateEmails::Refuse).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(err.0[0].contains("\"same@example.com\""), "{err}");
        assert!(err.0[0].contains("1 (\"a\"), 2 (\"b\")"), "{err}");
        let kept = run(
            &rows,
            &Existing::default(),
            DuplicateEmails::KeepFirstClearOthers,
        )
        .unwrap();
        assert_eq!(kept.users.len(), 3);
        assert_eq!(kept.users[0].email, "Same@Example.com");
        assert_eq!(kept.users[1].email, "");
        assert_eq!(
            kept.cleared_emails,
            [(2, "b".into(), "same@example.COM".into())]
        );
    }

    #[test]
    fn rows_that_clash_with_d1_are_errors_naming_them() {
        let existing = Existing {
            users: vec![
                ExistingUser {
                    id: 1,
                    username: "zed".into(),
                    email_key: "z@example.com".into(),
                },
                ExistingUser {
                    id: 9,
                    username: "b".into(),
                    email_key: String::new(),
                },
            ],
            ..Existing::default()
        };
        let rows = [
            user(1, "a", "", "!x"),
            user(2, "b", "", "!x"),
            user(3, "c", "Z@example.com", "!x"),
        ];
        let err = run(&rows, &existing, DuplicateEmails::Refuse).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("auth.user pk 1 (\"a\"): id 1 belongs to another user in D1 (\"zed\")"),
            "{text}"
        );
        assert!(
            text.contains("auth.user pk 2: username \"b\" belongs to user 9 in D1"),
            "{text}"
        );
        assert!(
            text.contains("3 (\"c\")") && text.contains("1 (\"zed\", in D1)"),
            "{text}"
        );
    }

    #[test]
    fn broken_rows_are_all_listed_with_model_and_pk() {
        let mut no_bool = user(4, "d", "", "!x");
        no_bool["fields"]["is_active"] = json!("yes");
        let mut long_name = user(5, "e", "", "!x");
        long_name["fields"]["first_name"] = json!("n".repeat(151));
        let rows = [
            user(-1, "neg", "", "!x"),
            no_bool,
            long_name,
            user(6, "", "", "!x"),
            json!({"model": "authtoken.token", "pk": "NOTHEX", "fields": {"user": 1, "created": "2024-01-01T00:00:00Z"}}),
            json!({"model": "token_blacklist.blacklistedtoken", "pk": 1, "fields": {"token": 7, "blacklisted_at": "2024-01-01T00:00:00Z"}}),
            json!({"model": "sessions.session", "pk": "k", "fields": {}}),
            json!("not an object"),
        ];
        let err = run(&rows, &Existing::default(), DuplicateEmails::Refuse).unwrap_err();
        let text = err.to_string();
        for expected in [
            "auth.user pk -1: pk should be a positive integer",
            "auth.user pk 4: field \"is_active\" should be true or false, is \"yes\"",
            "auth.user pk 5: field \"first_name\" is longer than 150 characters",
            "auth.user pk 6: the username is empty",
            "authtoken.token pk NOTHEX: the key should be 40 lowercase hex characters",
            "token_blacklist.blacklistedtoken pk 1: its token 7 is not in the dump",
            "sessions.session pk k: not a model this import reads",
            "record 8 is not a dumpdata object",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in {text}");
        }
        assert!(text.starts_with("the dump cannot be imported; nothing was written"));
    }

    #[test]
    fn expired_blacklist_rows_and_superseded_tokens_are_counted_not_written() {
        let key = "a".repeat(40);
        let rows = [
            user(1, "a", "", "!x"),
            json!({"model": "authtoken.token", "pk": key, "fields": {"user": 1, "created": "2024-01-01T00:00:00Z"}}),
            json!({"model": "token_blacklist.outstandingtoken", "pk": 1, "fields": {"user": 1, "jti": "x", "token": "t", "created_at": null, "expires_at": "2020-01-01T00:00:00Z"}}),
            json!({"model": "token_blacklist.blacklistedtoken", "pk": 1, "fields": {"token": 1, "blacklisted_at": "2019-12-31T00:00:00Z"}}),
        ];
        let existing = Existing {
            tokens: [("b".repeat(40), 1)].into_iter().collect(),
            ..Existing::default()
        };
        let plan = run(&rows, &existing, DuplicateEmails::Refuse).unwrap();
        assert_eq!(plan.revoked_expired, 1);
        assert!(plan.revoked.is_empty());
        assert_eq!(plan.tokens_superseded, [key]);
        assert!(plan.tokens.is_empty());
    }

    #[test]
    fn batches_stay_under_the_byte_bound_and_keep_order() {
        let statements: Vec<String> = (0..100).map(|i| format!("SELECT {i:04};")).collect();
        let files = batches(&statements, 1_000);
        assert!(files.len() > 1);
        assert!(files.iter().all(|f| f.len() <= 1_000));
        assert_eq!(files.concat().lines().count(), 100);
        assert!(files[0].starts_with("SELECT 0000;"));
    }
}
