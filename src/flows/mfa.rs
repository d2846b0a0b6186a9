//! Two-factor sign-in: TOTP enrolment (`mfa/totp/activate/`, `…/confirm/`, `…/deactivate/`),
//! backup codes, the status read, and the second step of a sign-in (`mfa/login/`).
//!
//! A user without a second factor never meets any of this: the login reads `mfa_enabled` from
//! the user row it already loads. With one, a correct password opens no session; it makes a
//! challenge, single-use, five minutes, five wrong codes, bound to the password hash that was
//! checked, and hands out an ephemeral token naming it: a random part and an HMAC of it under
//! SIGNING_KEY, so a forged token is refused without a storage read. The random part is stored
//! only as its SHA-256.
//!
//! Secrets: the TOTP secret is sealed at rest (XChaCha20-Poly1305, the user id as associated
//! data) under a key derived from MFA_ENCRYPTION_KEY, or from SIGNING_KEY when that is unset;
//! backup codes are stored as HMACs under another derived key, so a copy of the database alone
//! can neither read the secrets nor test guesses of the codes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::LoginField;
use crate::domain::event::EventKind;
use crate::domain::totp;
use crate::domain::user::User;
use crate::email::templates::EmailKind;
use crate::error::FieldErrors;
use crate::flows::password::check_current_password;
use crate::flows::session::{self, TokenPair};
use crate::flows::throttle::{self, Subject};
use crate::flows::{links, sessions};
use crate::flows::{ok_if_empty, random, take, Checked, Cx, FlowError, Outbox};
use crate::messages as msg;
use crate::storage::{
    AuthTokenStore, Challenge, MfaStore, RefreshArbiter, SessionIndex, ThrottleStore, TotpRecord,
    UserLookup, UserStore,
};
use crate::tokens::auth_token::hex;
use crate::tokens::{hmac_sha256, seal};

/// Seconds an ephemeral token lives.
pub const CHALLENGE_LIFETIME: i64 = 300;
/// Wrong codes that end a challenge.
pub const CHALLENGE_MAX_FAILURES: i64 = 5;

/// What the first call of a sign-in was, so the second answers as it would have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// jwt/create: `{refresh, access}`.
    Jwt,
    /// token/login: `{auth_token}`.
    Token,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::Jwt => "jwt",
            Purpose::Token => "token",
        }
    }

    fn parse(name: &str) -> Option<Purpose> {
        [Purpose::Jwt, Purpose::Token]
            .into_iter()
            .find(|p| p.name() == name)
    }
}

/// What `mfa/login` opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// A JWT session.
    Jwt(TokenPair),
    /// The user's DRF token.
    Token(String),
}

/// `GET mfa/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// A second factor is enabled.
    pub totp: bool,
    /// Unused backup codes.
    pub backup_codes_left: usize,
}

/// What `mfa/totp/activate/` hands the frontend to show (a QR code of the URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// `otpauth://totp/…`.
    pub otpauth_url: String,
    /// The secret in base32, for typing in by hand.
    pub secret: String,
}

/// The secret every MFA key is derived from.
fn base_key<'a, S>(cx: &'a Cx<'_, S>) -> Result<&'a [u8], FlowError> {
    match cx.settings.mfa_encryption_key.as_deref() {
        Some(key) => Ok(key),
        None => cx.secret(),
    }
}

fn derived<S>(cx: &Cx<'_, S>, purpose: &str) -> Result<[u8; 32], FlowError> {
    Ok(seal::derive_key(base_key(cx)?, purpose))
}

/// The associated data a user's sealed secret is bound to.
fn owner(user_id: i64) -> Vec<u8> {
    format!("totp:{user_id}").into_bytes()
}

fn open_secret<S>(cx: &Cx<'_, S>, user_id: i64, record: &TotpRecord) -> Result<Vec<u8>, FlowError> {
    let key = derived(cx, "totp secret")?;
    seal::open(&key, &owner(user_id), &record.sealed_secret).ok_or_else(|| {
        FlowError::Internal(format!(
            "mfa: the TOTP secret of user {user_id} does not open (MFA_ENCRYPTION_KEY or SIGNING_KEY changed?)"
        ))
    })
}

/// The stored form of a backup code (already normalised).
fn code_hash<S>(cx: &Cx<'_, S>, user_id: i64, code: &str) -> Result<String, FlowError> {
    let key = derived(cx, "backup code")?;
    let owned = format!("{user_id}:{code}");
    Ok(hex(&hmac_sha256(&key, &[owned.as_bytes()])))
}

/// A fresh set of backup codes: as shown, and as stored.
fn new_backup_codes<S>(
    cx: &Cx<'_, S>,
    user_id: i64,
) -> Result<(Vec<String>, Vec<String>), FlowError> {
    let mut shown = Vec::with_capacity(totp::BACKUP_CODES);
    let mut stored = Vec::with_capacity(totp::BACKUP_CODES);
    for _ in 0..totp::BACKUP_CODES {
        let code = totp::backup_code(random::<8>()?);
        let plain = totp::normalise_backup_code(&code)
            .ok_or_else(|| FlowError::Internal("mfa: a backup code does not read back".into()))?;
        stored.push(code_hash(cx, user_id, &plain)?);
        shown.push(code);
    }
    Ok((shown, stored))
}

/// What a challenge is bound to: the password hash that was checked (a password changed or
/// reset in between voids it).
fn binding(user: &User) -> String {
    hex(&Sha256::digest(user.password.as_bytes())[..16])
}

fn challenge_mac<S>(cx: &Cx<'_, S>, random_part: &[u8]) -> Result<[u8; 32], FlowError> {
    Ok(hmac_sha256(
        cx.secret()?,
        &[b"djoser-edge mfa challenge\0", random_part],
    ))
}

/// Makes the challenge of a correct password for `user` and returns its ephemeral token.
pub async fn challenge<S: MfaStore>(
    cx: &Cx<'_, S>,
    user: &User,
    purpose: Purpose,
) -> Result<String, FlowError> {
    let random_part = random::<32>()?;
    let mac = challenge_mac(cx, &random_part)?;
    cx.store
        .create_challenge(&Challenge {
            id: hex(&Sha256::digest(random_part)),
            user_id: user.id,
            purpose: purpose.name().into(),
            binding: binding(user),
            failures: 0,
            expires_at: cx.now.saturating_add(CHALLENGE_LIFETIME),
        })
        .await?;
    Ok(format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(random_part),
        URL_SAFE_NO_PAD.encode(mac)
    ))
}

/// The challenge id an ephemeral token names, if its HMAC is right.
fn challenge_id<S>(cx: &Cx<'_, S>, token: &str) -> Result<Option<String>, FlowError> {
    let Some((random_part, mac)) = token.trim().split_once('.') else {
        return Ok(None);
    };
    let (Ok(random_part), Ok(mac)) = (
        URL_SAFE_NO_PAD.decode(random_part),
        URL_SAFE_NO_PAD.decode(mac),
    ) else {
        return Ok(None);
    };
    if random_part.len() != 32 {
        return Ok(None);
    }
    let expected = challenge_mac(cx, &random_part)?;
    if !bool::from(expected.ct_eq(&mac)) {
        return Ok(None);
    }
    Ok(Some(hex(&Sha256::digest(&random_part))))
}

/// How a second factor was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Factor {
    Totp,
    BackupCode,
}

/// Checks `code` as a TOTP code (a fresh step, spent here) or else a backup code (spent here);
/// `None` when it is neither.
async fn second_factor<S: MfaStore>(
    cx: &Cx<'_, S>,
    user: &User,
    record: &TotpRecord,
    code: &str,
    mail: &mut Outbox,
) -> Result<Option<Factor>, FlowError> {
    let user_id = user.id;
    let secret = open_secret(cx, user_id, record)?;
    if let Some(step) = totp::verify(&secret, code, cx.now, record.last_step) {
        // Two requests with the same code: the step is spent once.
        return Ok(cx
            .store
            .use_totp_step(user_id, step)
            .await?
            .then_some(Factor::Totp));
    }
    let Some(plain) = totp::normalise_backup_code(code) else {
        return Ok(None);
    };
    let hash = code_hash(cx, user_id, &plain)?;
    if cx.store.use_backup_code(user_id, &hash).await? {
        cx.record(EventKind::BackupCodeUsed, user_id, None);
        links::queue(cx, mail, user, EmailKind::BackupCodeUsed)?;
        return Ok(Some(Factor::BackupCode));
    }
    Ok(None)
}

/// A signed-in user's code for deactivation or regeneration: throttled like a password check
/// of the account (its failures count against it), `code` field errors in `errors`.
async fn check_code<S: ThrottleStore + MfaStore>(
    cx: &Cx<'_, S>,
    me: &User,
    record: &TotpRecord,
    code: String,
    errors: &mut FieldErrors,
    mail: &mut Outbox,
) -> Result<(), FlowError> {
    let attempt = throttle::password_check(cx, Subject::UserId(me.id)).await?;
    if second_factor(cx, me, record, &code, mail).await?.is_none() {
        attempt.failed(cx).await?;
        cx.record(EventKind::MfaFailed, me.id, None);
        errors.add("code", msg::MFA_INVALID_CODE);
    }
    Ok(())
}

/// The enabled TOTP record of `me`, or the "not enabled" error.
async fn enabled_record<S: MfaStore>(cx: &Cx<'_, S>, me: &User) -> Result<TotpRecord, FlowError> {
    match cx.store.totp(me.id).await? {
        Some(record) if record.enabled => Ok(record),
        _ => Err(FlowError::non_field(msg::MFA_NOT_ENABLED)),
    }
}

/// With MFA_CHANGE_ENDS_OTHER_SESSIONS, a factor turned on or off ends every session of the
/// user but the one making the change: sessions opened before the factor (perhaps by whoever
/// prompted the change) do not outlive it.
async fn end_other_sessions<S: RefreshArbiter + AuthTokenStore + SessionIndex>(
    cx: &Cx<'_, S>,
    me: &User,
    current_session: Option<&str>,
) -> Result<(), FlowError> {
    if cx.settings.mfa_change_ends_other_sessions {
        sessions::end_others(cx, me, current_session).await?;
    }
    Ok(())
}

/// GET mfa/.
pub async fn status<S: MfaStore>(cx: &Cx<'_, S>, me: &User) -> Result<Status, FlowError> {
    let record = cx.store.totp(me.id).await?.filter(|r| r.enabled);
    Ok(Status {
        totp: record.is_some(),
        backup_codes_left: record.map_or(0, |r| r.backup_codes_left),
    })
}

/// POST mfa/totp/activate/ {current_password}: a new secret, pending until confirmed (a second
/// activate replaces a pending one); refused while a factor is enabled.
pub async fn activate<S: ThrottleStore + MfaStore>(
    cx: &Cx<'_, S>,
    me: &User,
    current_password: Checked<String>,
) -> Result<Enrolment, FlowError> {
    let mut errors = FieldErrors::new();
    check_current_password(cx, me, current_password, &mut errors).await?;
    ok_if_empty(errors)?;
    let already = || FlowError::non_field(msg::MFA_ALREADY_ENABLED);
    if me.mfa_enabled {
        return Err(already());
    }
    let secret = random::<{ totp::SECRET_BYTES }>()?;
    let key = derived(cx, "totp secret")?;
    let sealed = seal::seal(
        &key,
        &owner(me.id),
        &secret,
        random::<{ seal::NONCE_BYTES }>()?,
    )
    .ok_or_else(|| FlowError::Internal("mfa: sealing failed".into()))?;
    if !cx.store.begin_totp(me.id, &sealed, cx.now).await? {
        return Err(already());
    }
    let account = match cx.settings.login_field {
        LoginField::Username => &me.username,
        LoginField::Email => &me.email,
    };
    let issuer = cx
        .settings
        .mfa_issuer
        .as_deref()
        .unwrap_or(&cx.settings.site_name);
    Ok(Enrolment {
        otpauth_url: totp::otpauth_url(issuer, account, &secret),
        secret: totp::encode_secret(&secret),
    })
}

/// POST mfa/totp/activate/confirm/ {code}: the first code from the app enables the factor;
/// returns the backup codes, shown this once, and the notice e-mail.
pub async fn confirm<
    S: ThrottleStore + MfaStore + RefreshArbiter + AuthTokenStore + SessionIndex,
>(
    cx: &Cx<'_, S>,
    me: &User,
    code: Checked<String>,
    current_session: Option<&str>,
) -> Result<(Vec<String>, Outbox), FlowError> {
    let mut errors = FieldErrors::new();
    let code = take(&mut errors, code);
    ok_if_empty(errors)?;
    let code = code.unwrap_or_default();
    let record = match cx.store.totp(me.id).await? {
        Some(record) if record.enabled => {
            return Err(FlowError::non_field(msg::MFA_ALREADY_ENABLED))
        }
        Some(record) => record,
        None => return Err(FlowError::non_field(msg::MFA_NOT_STARTED)),
    };
    let attempt = throttle::password_check(cx, Subject::UserId(me.id)).await?;
    let secret = open_secret(cx, me.id, &record)?;
    let Some(step) = totp::verify(&secret, &code, cx.now, record.last_step) else {
        attempt.failed(cx).await?;
        return Err(FlowError::field("code", msg::MFA_INVALID_CODE));
    };
    let (shown, stored) = new_backup_codes(cx, me.id)?;
    if !cx
        .store
        .enable_totp(me.id, &record.sealed_secret, step, &stored)
        .await?
    {
        // Confirmed or replaced by a concurrent request meanwhile.
        return Err(FlowError::non_field(msg::MFA_NOT_STARTED));
    }
    cx.record(EventKind::MfaEnabled, me.id, None);
    end_other_sessions(cx, me, current_session).await?;
    let mut mail = Outbox::new();
    links::queue(cx, &mut mail, me, EmailKind::MfaEnabled)?;
    Ok((shown, mail))
}

/// POST mfa/totp/deactivate/ {current_password, code}: turns the factor off (a backup code
/// works as the code).
pub async fn deactivate<
    S: ThrottleStore + MfaStore + RefreshArbiter + AuthTokenStore + SessionIndex,
>(
    cx: &Cx<'_, S>,
    me: &User,
    current_password: Checked<String>,
    code: Checked<String>,
    current_session: Option<&str>,
) -> Result<Outbox, FlowError> {
    let mut mail = checked_password_and_code(cx, me, current_password, code).await?;
    cx.store.disable_totp(me.id).await?;
    cx.record(EventKind::MfaDisabled, me.id, None);
    end_other_sessions(cx, me, current_session).await?;
    links::queue(cx, &mut mail, me, EmailKind::MfaDisabled)?;
    Ok(mail)
}

/// POST mfa/backup_codes/regenerate/ {current_password, code}: a new set; the old one is dead.
pub async fn regenerate<S: ThrottleStore + MfaStore>(
    cx: &Cx<'_, S>,
    me: &User,
    current_password: Checked<String>,
    code: Checked<String>,
) -> Result<(Vec<String>, Outbox), FlowError> {
    let mail = checked_password_and_code(cx, me, current_password, code).await?;
    let (shown, stored) = new_backup_codes(cx, me.id)?;
    cx.store.replace_backup_codes(me.id, &stored).await?;
    cx.record(EventKind::BackupCodesRegenerated, me.id, None);
    Ok((shown, mail))
}

/// The password and a code of an enabled factor, both checked (field errors together, as DRF
/// reports them); the notice of a backup code used for it.
async fn checked_password_and_code<S: ThrottleStore + MfaStore>(
    cx: &Cx<'_, S>,
    me: &User,
    current_password: Checked<String>,
    code: Checked<String>,
) -> Result<Outbox, FlowError> {
    let mut errors = FieldErrors::new();
    let code = take(&mut errors, code);
    check_current_password(cx, me, current_password, &mut errors).await?;
    ok_if_empty(errors)?;
    let record = enabled_record(cx, me).await?;
    let mut errors = FieldErrors::new();
    let mut mail = Outbox::new();
    check_code(
        cx,
        me,
        &record,
        code.unwrap_or_default(),
        &mut errors,
        &mut mail,
    )
    .await?;
    ok_if_empty(errors)?;
    Ok(mail)
}

/// POST mfa/login/ {ephemeral_token, code}: the second step of a sign-in; opens the session the
/// first call would have opened without a second factor.
pub async fn login<S: ThrottleStore + UserStore + MfaStore + AuthTokenStore + SessionIndex>(
    cx: &Cx<'_, S>,
    ephemeral_token: Checked<String>,
    code: Checked<String>,
) -> Result<(Opened, Outbox), FlowError> {
    let mut errors = FieldErrors::new();
    let token = take(&mut errors, ephemeral_token);
    let code = take(&mut errors, code);
    ok_if_empty(errors)?;
    let (token, code) = (token.unwrap_or_default(), code.unwrap_or_default());
    let invalid = || FlowError::field("ephemeral_token", msg::MFA_INVALID_TOKEN);
    let Some(id) = challenge_id(cx, &token)? else {
        return Err(invalid());
    };
    let Some(challenge) = cx.store.challenge(&id, cx.now).await? else {
        return Err(invalid());
    };
    let attempt = throttle::password_check(cx, Subject::UserId(challenge.user_id)).await?;
    let user = cx
        .store
        .find_user(UserLookup::Id(challenge.user_id))
        .await?
        .filter(|u| u.is_active && u.mfa_enabled && binding(u) == challenge.binding);
    let record = match &user {
        Some(user) => cx.store.totp(user.id).await?.filter(|r| r.enabled),
        None => None,
    };
    let (Some(user), Some(record), Some(purpose)) =
        (user, record, Purpose::parse(&challenge.purpose))
    else {
        // The account changed since the password check (deactivated, password changed, factor
        // turned off): the challenge is dead.
        cx.store.consume_challenge(&id).await?;
        return Err(invalid());
    };
    let mut mail = Outbox::new();
    if second_factor(cx, &user, &record, &code, &mut mail)
        .await?
        .is_none()
    {
        cx.store.fail_challenge(&id, CHALLENGE_MAX_FAILURES).await?;
        attempt.failed(cx).await?;
        cx.record(EventKind::MfaFailed, user.id, None);
        return Err(FlowError::field("code", msg::MFA_INVALID_CODE));
    }
    if !cx.store.consume_challenge(&id).await? {
        // Another request finished this sign-in first.
        return Err(invalid());
    }
    let opened = match purpose {
        Purpose::Jwt => {
            let key = session::jwt_key(cx)?;
            Opened::Jwt(session::open_jwt_session(cx, &key, &user).await?)
        }
        Purpose::Token => Opened::Token(session::open_token_session(cx, &user).await?),
    };
    Ok((opened, mail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::flows::session::{jwt_create, token_login, SignIn};
    use crate::flows::testing::{cx, cx_at, settings, user_with_password, NOW};
    use crate::storage::memory::{block_on, both, MemoryStore};

    const PASSWORD: &str = "secret-pw-1";
    /// A time one step after NOW's, and one two steps after.
    const NEXT: i64 = NOW + totp::STEP;

    /// A user (id 1, alice) with TOTP enabled at `NOW`: its secret and backup codes.
    fn enrolled(s: &Settings, store: &MemoryStore) -> (Vec<u8>, Vec<String>) {
        user_with_password(store, s, 1, "alice", "a@example.com", PASSWORD);
        let me = store.user(1).unwrap();
        let enrolment = block_on(activate(&cx(s, store), &me, Ok(PASSWORD.into()))).unwrap();
        let secret = totp::decode_secret(&enrolment.secret).unwrap();
        let (codes, _) =
            block_on(confirm(&cx(s, store), &me, Ok(code_at(&secret, NOW)), None)).unwrap();
        (secret, codes)
    }

    fn code_at(secret: &[u8], now: i64) -> String {
        totp::code_at(secret, totp::step_at(now)).unwrap()
    }

    /// The ephemeral token of a correct password for alice at `now`.
    fn ephemeral(s: &Settings, store: &MemoryStore, now: i64) -> String {
        match block_on(jwt_create(&cx_at(s, store, now), "alice", PASSWORD)).unwrap() {
            SignIn::SecondFactor(token) => token,
            SignIn::Open(_) => panic!("signed in without a second factor"),
        }
    }

    fn second_step(
        s: &Settings,
        store: &MemoryStore,
        now: i64,
        token: &str,
        code: &str,
    ) -> Result<Opened, FlowError> {
        block_on(login(
            &cx_at(s, store, now),
            Ok(token.into()),
            Ok(code.into()),
        ))
        .map(|(opened, _)| opened)
    }

    fn invalid_code() -> FlowError {
        FlowError::field("code", msg::MFA_INVALID_CODE)
    }

    fn invalid_token() -> FlowError {
        FlowError::field("ephemeral_token", msg::MFA_INVALID_TOKEN)
    }

    #[test]
    fn enrolment_shows_the_secret_once_and_stores_it_sealed() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "a@example.com", PASSWORD);
        let me = store.user(1).unwrap();
        let enrolment = block_on(activate(&cx(&s, &store), &me, Ok(PASSWORD.into()))).unwrap();
        assert!(enrolment
            .otpauth_url
            .starts_with("otpauth://totp/djoser-edge:alice?secret="));
        assert!(enrolment.otpauth_url.contains(&enrolment.secret));
        let record = store.snapshot().totp[&1].clone();
        assert!(!record.enabled);
        let secret = totp::decode_secret(&enrolment.secret).unwrap();
        assert_eq!(secret.len(), totp::SECRET_BYTES);
        assert!(!record.sealed_secret.contains(&enrolment.secret));
        assert_eq!(open_secret(&cx(&s, &store), 1, &record).unwrap(), secret);
        // Pending: the login is unchanged until the first code confirms it.
        assert!(matches!(
            block_on(jwt_create(&cx(&s, &store), "alice", PASSWORD)).unwrap(),
            SignIn::Open(_)
        ));
        let status_before = block_on(status(&cx(&s, &store), &me)).unwrap();
        assert_eq!(
            status_before,
            Status {
                totp: false,
                backup_codes_left: 0
            }
        );
        let (codes, mail) = block_on(confirm(
            &cx(&s, &store),
            &me,
            Ok(code_at(&secret, NOW)),
            None,
        ))
        .unwrap();
        assert_eq!(codes.len(), 10);
        let notices: Vec<_> = mail.iter().map(|m| (m.kind, m.to.as_str())).collect();
        assert_eq!(notices, [(EmailKind::MfaEnabled, "a@example.com")]);
        let me = store.user(1).unwrap();
        assert!(me.mfa_enabled);
        assert_eq!(
            block_on(status(&cx(&s, &store), &me)).unwrap(),
            Status {
                totp: true,
                backup_codes_left: 10
            }
        );
        // Only hashes of the codes are kept.
        let stored = &store.snapshot().backup_codes[&1];
        for code in &codes {
            assert!(!stored.iter().any(|h| h.contains(&code.replace('-', ""))));
        }
    }

    #[test]
    fn a_wrong_password_or_code_enrols_nothing() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "", PASSWORD);
        let me = store.user(1).unwrap();
        let wrong = block_on(activate(&cx(&s, &store), &me, Ok("nope".into())));
        assert_eq!(
            wrong,
            Err(FlowError::field("current_password", msg::INVALID_PASSWORD))
        );
        assert!(store.snapshot().totp.is_empty());
        let early = block_on(confirm(&cx(&s, &store), &me, Ok("123456".into()), None));
        assert_eq!(early, Err(FlowError::non_field(msg::MFA_NOT_STARTED)));
        let enrolment = block_on(activate(&cx(&s, &store), &me, Ok(PASSWORD.into()))).unwrap();
        let secret = totp::decode_secret(&enrolment.secret).unwrap();
        let stale = code_at(&secret, NOW - 3 * totp::STEP);
        let refused = block_on(confirm(&cx(&s, &store), &me, Ok(stale), None));
        assert_eq!(refused, Err(invalid_code()));
        assert!(!store.user(1).unwrap().mfa_enabled);
        assert!(!store.snapshot().totp[&1].enabled);
    }

    #[test]
    fn with_a_second_factor_the_password_alone_opens_no_session() {
        let s = settings();
        let store = MemoryStore::new();
        let (secret, _) = enrolled(&s, &store);
        let token = ephemeral(&s, &store, NEXT);
        // The password step opened no session.
        assert!(store.snapshot().sessions.is_empty());
        let Opened::Jwt(pair) =
            second_step(&s, &store, NEXT, &token, &code_at(&secret, NEXT)).unwrap()
        else {
            panic!("a jwt/create challenge opens a JWT session");
        };
        assert!(!pair.access.is_empty() && !pair.refresh.is_empty());
        // The token is single-use.
        let again = second_step(&s, &store, NEXT, &token, &code_at(&secret, NEXT));
        assert_eq!(again, Err(invalid_token()));
        // token/login answers its own kind after the second step.
        let SignIn::SecondFactor(token) = block_on(token_login(
            &cx_at(&s, &store, NEXT + totp::STEP),
            Some("alice"),
            Some(PASSWORD),
        ))
        .unwrap() else {
            panic!("token/login skipped the second factor");
        };
        let later = NEXT + totp::STEP;
        let opened = second_step(&s, &store, later, &token, &code_at(&secret, later)).unwrap();
        assert!(matches!(opened, Opened::Token(key) if key.len() == 40));
    }

    #[test]
    fn a_code_is_good_once_and_so_is_every_earlier_step() {
        let s = settings();
        let store = MemoryStore::new();
        let (secret, _) = enrolled(&s, &store);
        // The confirming code's step is spent already.
        let token = ephemeral(&s, &store, NOW);
        assert_eq!(
            second_step(&s, &store, NOW, &token, &code_at(&secret, NOW)),
            Err(invalid_code())
        );
        let code = code_at(&secret, NEXT);
        assert!(second_step(&s, &store, NEXT, &token, &code).is_ok());
        let token = ephemeral(&s, &store, NEXT);
        assert_eq!(
            second_step(&s, &store, NEXT, &token, &code),
            Err(invalid_code())
        );
        // One step of skew either way is accepted; two are not.
        let far = NEXT + 10 * totp::STEP;
        let token = ephemeral(&s, &store, far);
        assert_eq!(
            second_step(
                &s,
                &store,
                far,
                &token,
                &code_at(&secret, far - 2 * totp::STEP)
            ),
            Err(invalid_code())
        );
        assert!(second_step(&s, &store, far, &token, &code_at(&secret, far - totp::STEP)).is_ok());
    }

    #[test]
    fn a_backup_code_works_once_in_any_case_and_spacing() {
        let s = settings();
        let store = MemoryStore::new();
        let (_, codes) = enrolled(&s, &store);
        let typed = codes[3].to_uppercase().replace('-', " ");
        let token = ephemeral(&s, &store, NEXT);
        assert!(second_step(&s, &store, NEXT, &token, &typed).is_ok());
        let me = store.user(1).unwrap();
        assert_eq!(
            block_on(status(&cx(&s, &store), &me))
                .unwrap()
                .backup_codes_left,
            9
        );
        let token = ephemeral(&s, &store, NEXT);
        assert_eq!(
            second_step(&s, &store, NEXT, &token, &codes[3]),
            Err(invalid_code())
        );
    }

    #[test]
    fn five_wrong_codes_or_five_minutes_end_a_challenge() {
        let s = settings();
        let store = MemoryStore::new();
        let (secret, _) = enrolled(&s, &store);
        let token = ephemeral(&s, &store, NEXT);
        for _ in 0..CHALLENGE_MAX_FAILURES {
            assert_eq!(
                second_step(&s, &store, NEXT, &token, "000000"),
                Err(invalid_code())
            );
        }
        assert_eq!(
            second_step(&s, &store, NEXT, &token, &code_at(&secret, NEXT)),
            Err(invalid_token())
        );
        let token = ephemeral(&s, &store, NEXT);
        let late = NEXT + CHALLENGE_LIFETIME;
        assert_eq!(
            second_step(&s, &store, late, &token, &code_at(&secret, late)),
            Err(invalid_token())
        );
    }

    #[test]
    fn a_forged_token_is_refused_without_a_storage_read() {
        let s = settings();
        let store = MemoryStore::new();
        let (secret, _) = enrolled(&s, &store);
        let token = ephemeral(&s, &store, NEXT);
        let (random_part, _) = token.split_once('.').unwrap();
        let forged = format!("{random_part}.{}", URL_SAFE_NO_PAD.encode([0u8; 32]));
        let before = store.calls.get();
        for bad in [forged.as_str(), "", "x.y", random_part] {
            assert_eq!(
                second_step(&s, &store, NEXT, bad, &code_at(&secret, NEXT)),
                Err(invalid_token())
            );
        }
        assert_eq!(store.calls.get(), before);
    }

    #[test]
    fn a_password_changed_between_the_steps_voids_the_challenge() {
        let s = settings();
        let store = MemoryStore::new();
        let (secret, _) = enrolled(&s, &store);
        let token = ephemeral(&s, &store, NEXT);
        let mut user = store.user(1).unwrap();
        user.password = "pbkdf2_sha256$changed".into();
        store.put_user(user);
        assert_eq!(
            second_step(&s, &store, NEXT, &token, &code_at(&secret, NEXT)),
            Err(invalid_token())
        );
        assert!(store.snapshot().challenges.is_empty());
    }

    #[test]
    fn two_second_steps_racing_with_one_token_open_one_session() {
        let s = settings();
        let store = MemoryStore::interleaved();
        let (secret, codes) = enrolled(&s, &store);
        let token = ephemeral(&s, &store, NEXT);
        let a = cx_at(&s, &store, NEXT);
        let b = cx_at(&s, &store, NEXT);
        let (first, second) = both(
            login(&a, Ok(token.clone()), Ok(code_at(&secret, NEXT))),
            login(&b, Ok(token.clone()), Ok(codes[0].clone())),
        );
        assert_eq!(
            [first.is_ok(), second.is_ok()]
                .iter()
                .filter(|ok| **ok)
                .count(),
            1,
            "{first:?} {second:?}"
        );
    }

    #[test]
    fn deactivation_needs_the_password_and_a_code_and_restores_plain_logins() {
        let s = settings();
        let store = MemoryStore::new();
        let (secret, codes) = enrolled(&s, &store);
        let me = store.user(1).unwrap();
        let later = cx_at(&s, &store, NEXT);
        let wrong = block_on(deactivate(
            &later,
            &me,
            Ok("nope".into()),
            Ok(code_at(&secret, NEXT)),
            None,
        ));
        assert_eq!(
            wrong,
            Err(FlowError::field("current_password", msg::INVALID_PASSWORD))
        );
        let bad_code = block_on(deactivate(
            &later,
            &me,
            Ok(PASSWORD.into()),
            Ok("123".into()),
            None,
        ));
        assert_eq!(bad_code, Err(invalid_code()));
        assert!(store.user(1).unwrap().mfa_enabled);
        block_on(deactivate(
            &later,
            &me,
            Ok(PASSWORD.into()),
            Ok(codes[0].clone()),
            None,
        ))
        .unwrap();
        assert!(!store.user(1).unwrap().mfa_enabled);
        assert!(store.snapshot().totp.is_empty() && store.snapshot().backup_codes.is_empty());
        assert!(matches!(
            block_on(jwt_create(&later, "alice", PASSWORD)).unwrap(),
            SignIn::Open(_)
        ));
        let me = store.user(1).unwrap();
        let again = block_on(deactivate(
            &later,
            &me,
            Ok(PASSWORD.into()),
            Ok(codes[1].clone()),
            None,
        ));
        assert_eq!(again, Err(FlowError::non_field(msg::MFA_NOT_ENABLED)));
    }

    #[test]
    fn with_the_setting_a_factor_change_ends_the_other_sessions_only() {
        use crate::flows::session::open_jwt_session;
        for ends in [false, true] {
            let s = Settings {
                mfa_change_ends_other_sessions: ends,
                ..settings()
            };
            let store = MemoryStore::new();
            user_with_password(&store, &s, 1, "alice", "a@example.com", PASSWORD);
            let me = store.user(1).unwrap();
            let key = s.jwt_keys().unwrap();
            let c = cx(&s, &store);
            block_on(open_jwt_session(&c, &key, &me)).unwrap();
            block_on(open_jwt_session(&c, &key, &me)).unwrap();
            let ids: Vec<String> = store
                .snapshot()
                .sessions
                .keys()
                .map(|(_, id)| id.clone())
                .collect();
            assert_eq!(ids.len(), 2);
            let enrolment = block_on(activate(&c, &me, Ok(PASSWORD.into()))).unwrap();
            let secret = totp::decode_secret(&enrolment.secret).unwrap();
            let current = ids[0].as_str();
            block_on(confirm(&c, &me, Ok(code_at(&secret, NOW)), Some(current))).unwrap();
            let left: Vec<String> = store
                .snapshot()
                .sessions
                .keys()
                .map(|(_, id)| id.clone())
                .collect();
            if ends {
                assert_eq!(left, [current.to_string()]);
            } else {
                assert_eq!(left, ids);
            }
        }
    }

    #[test]
    fn regenerated_codes_replace_the_old_ones() {
        let s = settings();
        let store = MemoryStore::new();
        let (secret, old) = enrolled(&s, &store);
        let me = store.user(1).unwrap();
        let later = cx_at(&s, &store, NEXT);
        let (new, mail) = block_on(regenerate(
            &later,
            &me,
            Ok(PASSWORD.into()),
            Ok(code_at(&secret, NEXT)),
        ))
        .unwrap();
        // A TOTP code was used, not a backup code: no notice.
        assert!(mail.is_empty());
        assert_eq!(new.len(), 10);
        assert!(new.iter().all(|c| !old.contains(c)));
        let token = ephemeral(&s, &store, NEXT);
        assert_eq!(
            second_step(&s, &store, NEXT, &token, &old[0]),
            Err(invalid_code())
        );
        assert!(second_step(&s, &store, NEXT, &token, &new[0]).is_ok());
    }

    #[test]
    fn each_change_and_failure_goes_into_the_event_log() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "a@example.com", PASSWORD);
        let me = store.user(1).unwrap();
        let c = cx(&s, &store);
        let enrolment = block_on(activate(&c, &me, Ok(PASSWORD.into()))).unwrap();
        let secret = totp::decode_secret(&enrolment.secret).unwrap();
        let (codes, _) = block_on(confirm(&c, &me, Ok(code_at(&secret, NOW)), None)).unwrap();
        let later = cx_at(&s, &store, NEXT);
        let SignIn::SecondFactor(token) = block_on(jwt_create(&later, "alice", PASSWORD)).unwrap()
        else {
            panic!("no challenge");
        };
        let _ = block_on(login(&later, Ok(token.clone()), Ok("000000".into())));
        let (_, mail) = block_on(login(&later, Ok(token), Ok(codes[0].clone()))).unwrap();
        let notices: Vec<_> = mail.iter().map(|m| m.kind).collect();
        assert_eq!(notices, [EmailKind::BackupCodeUsed]);
        let kinds = |events: Vec<crate::domain::event::Event>| -> Vec<EventKind> {
            events.into_iter().map(|e| e.kind).collect()
        };
        assert_eq!(kinds(c.events.take()), [EventKind::MfaEnabled]);
        assert_eq!(
            kinds(later.events.take()),
            [
                EventKind::MfaFailed,
                EventKind::BackupCodeUsed,
                EventKind::LoginSucceeded
            ]
        );
    }
}
