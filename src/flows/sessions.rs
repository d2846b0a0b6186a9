//! Sessions and devices: every login is a session (a JWT token family, or the DRF token), listed
//! from the session index and ended through the arbiter.
//!
//! The index is eventually consistent: a session started at another location within about a
//! minute may not be listed yet, so `revoke_others` may miss it; `revoke_all` is exact, because
//! it moves the user's sessions epoch in D1, which every token check reads.

use sha2::{Digest, Sha256};

use crate::domain::event::EventKind;
use crate::domain::user::User;
use crate::flows::{Cx, FlowError};
use crate::storage::{AuthTokenStore, RefreshArbiter, SessionIndex, SessionRecord, UserStore};
use crate::tokens::auth_token::hex;

/// The kind of a JWT login's session.
pub const JWT: &str = "jwt";
/// The kind of the DRF token's session.
pub const TOKEN: &str = "token";

/// The session id of a DRF token key: `t` and 15 hex digits of its SHA-256, so it never
/// reveals the key and never looks like a token family id (16 hex digits).
pub fn token_session_id(key: &str) -> String {
    let digest = hex(&Sha256::digest(key.as_bytes()));
    format!("t{}", &digest[..15])
}

fn record<S>(
    cx: &Cx<'_, S>,
    user_id: &str,
    id: &str,
    kind: &str,
    known: Option<&SessionRecord>,
    expires: i64,
) -> SessionRecord {
    SessionRecord {
        id: id.to_string(),
        kind: kind.to_string(),
        user_id: user_id.to_string(),
        created: known.map_or(cx.now, |k| k.created),
        refreshed: cx.now,
        expires,
        user_agent: cx.meta.user_agent.to_string(),
        ip: cx.meta.ip.to_string(),
        country: cx.meta.country.map(str::to_string),
        city: cx.meta.city.map(str::to_string),
        colo: cx.meta.colo.map(str::to_string),
    }
}

/// The index record of a JWT session after a login or a refresh: created when first known,
/// last used now, expiring with its newest refresh token.
pub fn jwt_record<S>(
    cx: &Cx<'_, S>,
    user_id: &str,
    sid: &str,
    known: Option<&SessionRecord>,
    exp: Option<i64>,
) -> SessionRecord {
    let expires = exp.unwrap_or(cx.now).max(cx.now);
    record(cx, user_id, sid, JWT, known, expires)
}

/// The index record of the DRF token's session after a token login (it lasts until logout).
pub fn token_record<S>(
    cx: &Cx<'_, S>,
    user_id: &str,
    sid: &str,
    known: Option<&SessionRecord>,
) -> SessionRecord {
    record(cx, user_id, sid, TOKEN, known, 0)
}

/// Writes a session's record into the index, best effort: the index decides nothing, so a
/// failure to write it (a KV outage) is logged and the sign-in or refresh goes on.
pub async fn remember<S: SessionIndex>(cx: &Cx<'_, S>, record: &SessionRecord) {
    if let Err(e) = cx.store.put_session(record, cx.now).await {
        (cx.warn)(&format!("session {} not indexed: {e}", record.id));
    }
}

/// The index record of one of `user_id`'s sessions, best effort (`None` when the index fails).
pub async fn known<S: SessionIndex>(
    cx: &Cx<'_, S>,
    user_id: &str,
    id: &str,
) -> Option<SessionRecord> {
    match cx.store.session(user_id, id).await {
        Ok(record) => record,
        Err(e) => {
            (cx.warn)(&format!("session {id} not read from the index: {e}"));
            None
        }
    }
}

/// A listed session, and whether it is the caller's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The record.
    pub record: SessionRecord,
    /// True for the session the request was authenticated with.
    pub current: bool,
}

/// GET sessions/: `user`'s live sessions, newest first; `current` is the caller's session id.
pub async fn list<S: SessionIndex>(
    cx: &Cx<'_, S>,
    user: &User,
    current: Option<&str>,
) -> Result<Vec<Listed>, FlowError> {
    let mut records = cx.store.sessions(&user.id.to_string()).await?;
    records.retain(|r| r.expires == 0 || r.expires > cx.now);
    records.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
    Ok(records
        .into_iter()
        .map(|record| Listed {
            current: current == Some(record.id.as_str()),
            record,
        })
        .collect())
}

/// Ends one session of `user`: its refresh and access tokens (a JWT family is revoked) or its
/// DRF token, and forgets it in the index.
async fn end_record<S: RefreshArbiter + AuthTokenStore + SessionIndex>(
    cx: &Cx<'_, S>,
    user: &User,
    record: &SessionRecord,
) -> Result<(), FlowError> {
    let user_id = user.id.to_string();
    if record.kind == TOKEN {
        cx.store.delete_token(user.id).await?;
    } else {
        let horizon = cx
            .now
            .saturating_add(cx.settings.refresh_token_lifetime)
            .max(record.expires);
        cx.store
            .revoke_family(&record.id, &user_id, cx.now, horizon)
            .await?;
    }
    cx.store.delete_session(&user_id, &record.id).await?;
    cx.record(EventKind::SessionEnded, user.id, Some(&record.id));
    Ok(())
}

/// DELETE sessions/{id}/: ends one of `user`'s sessions; an id that is not theirs is 404.
pub async fn end<S: RefreshArbiter + AuthTokenStore + SessionIndex>(
    cx: &Cx<'_, S>,
    user: &User,
    id: &str,
) -> Result<(), FlowError> {
    let Some(record) = cx.store.session(&user.id.to_string(), id).await? else {
        return Err(FlowError::NotFound);
    };
    end_record(cx, user, &record).await
}

/// POST sessions/revoke_others/: ends every listed session of `user` but `current`.
pub async fn end_others<S: RefreshArbiter + AuthTokenStore + SessionIndex>(
    cx: &Cx<'_, S>,
    user: &User,
    current: Option<&str>,
) -> Result<(), FlowError> {
    for record in cx.store.sessions(&user.id.to_string()).await? {
        if current != Some(record.id.as_str()) {
            end_record(cx, user, &record).await?;
        }
    }
    Ok(())
}

/// POST sessions/revoke_all/: ends every session of `user`, listed or not: the sessions epoch
/// moves (every token issued before is refused), the DRF token goes, and the index is emptied.
pub async fn end_all<S: UserStore + RefreshArbiter + AuthTokenStore + SessionIndex>(
    cx: &Cx<'_, S>,
    user: &User,
) -> Result<(), FlowError> {
    cx.store.end_sessions(user.id, cx.now).await?;
    for record in cx.store.sessions(&user.id.to_string()).await? {
        end_record(cx, user, &record).await?;
    }
    cx.store.delete_token(user.id).await?;
    Ok(())
}

/// Forgets `user`'s DRF token sessions in the index (after a token logout).
pub async fn forget_token_sessions<S: SessionIndex>(
    cx: &Cx<'_, S>,
    user: &User,
) -> Result<(), FlowError> {
    let user_id = user.id.to_string();
    for record in cx.store.sessions(&user_id).await? {
        if record.kind == TOKEN {
            cx.store.delete_session(&user_id, &record.id).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::authn::{self, AuthFailure};
    use crate::flows::session::{jwt_create, jwt_refresh, token_login};
    use crate::flows::testing::{cx, cx_at, settings, user_with_password, NOW};
    use crate::storage::memory::{block_on, MemoryStore};
    use crate::tokens::jwt::{self, JwtKeys};

    fn sid_of(s: &crate::config::Settings, token: &str) -> String {
        let key = JwtKeys::hs256(s.signing_key.as_deref().unwrap());
        // Read a minute later than NOW: some tokens here are issued a few seconds after it.
        let claims = jwt::decode(&key, token, NOW + 60, 0).unwrap();
        claims.extra[authn::SESSION_CLAIM]
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn every_login_is_a_listed_session_and_the_callers_is_current() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        let first = block_on(jwt_create(&cx(&s, &store), "alice", "secret-pw-1"))
            .unwrap()
            .open();
        let later = cx_at(&s, &store, NOW + 5);
        let second = block_on(jwt_create(&later, "alice", "secret-pw-1"))
            .unwrap()
            .open();
        block_on(token_login(
            &cx_at(&s, &store, NOW + 9),
            Some("alice"),
            Some("secret-pw-1"),
        ))
        .unwrap();
        let current = sid_of(&s, &first.access);
        let listed = block_on(list(&cx(&s, &store), &me, Some(&current))).unwrap();
        let summary: Vec<_> = listed
            .iter()
            .map(|l| (l.record.kind.as_str(), l.current))
            .collect();
        assert_eq!(summary, [(TOKEN, false), (JWT, false), (JWT, true)]);
        assert_eq!(listed[1].record.id, sid_of(&s, &second.refresh));
        assert_eq!(listed[2].record.ip, "203.0.113.0/24");
    }

    #[test]
    fn a_refresh_keeps_the_session_and_moves_its_last_use() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        let pair = block_on(jwt_create(&cx(&s, &store), "alice", "secret-pw-1"))
            .unwrap()
            .open();
        let next = block_on(jwt_refresh(&cx_at(&s, &store, NOW + 30), &pair.refresh)).unwrap();
        assert_eq!(sid_of(&s, &next.access), sid_of(&s, &pair.access));
        let listed = block_on(list(&cx(&s, &store), &me, None)).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].record.created, listed[0].record.refreshed),
            (NOW, NOW + 30)
        );
    }

    #[test]
    fn ending_a_session_refuses_its_access_and_refresh_tokens_at_once() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        let cx = cx(&s, &store);
        let pair = block_on(jwt_create(&cx, "alice", "secret-pw-1"))
            .unwrap()
            .open();
        let other = block_on(jwt_create(&cx, "alice", "secret-pw-1"))
            .unwrap()
            .open();
        block_on(end(&cx, &me, &sid_of(&s, &pair.access))).unwrap();
        assert_eq!(
            block_on(authn::user_for_access_token(&cx, &pair.access)),
            Err(FlowError::Unauthenticated(AuthFailure::SessionEnded))
        );
        assert!(block_on(jwt_refresh(&cx, &pair.refresh)).is_err());
        assert!(block_on(authn::user_for_access_token(&cx, &other.access)).is_ok());
        assert_eq!(block_on(end(&cx, &me, "nope")), Err(FlowError::NotFound));
    }

    #[test]
    fn revoke_others_keeps_the_current_session_and_revoke_all_ends_everything() {
        let s = settings();
        let store = MemoryStore::new();
        let me = user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        let cx = cx(&s, &store);
        let mine = block_on(jwt_create(&cx, "alice", "secret-pw-1"))
            .unwrap()
            .open();
        let theirs = block_on(jwt_create(&cx, "alice", "secret-pw-1"))
            .unwrap()
            .open();
        let key = block_on(token_login(&cx, Some("alice"), Some("secret-pw-1")))
            .unwrap()
            .open();
        block_on(end_others(&cx, &me, Some(&sid_of(&s, &mine.access)))).unwrap();
        assert!(block_on(authn::user_for_access_token(&cx, &mine.access)).is_ok());
        assert!(block_on(authn::user_for_access_token(&cx, &theirs.access)).is_err());
        assert!(block_on(authn::user_for_token_key(&cx, &key)).is_err());
        let later = cx_at(&s, &store, NOW + 1);
        block_on(end_all(&later, &me)).unwrap();
        assert!(block_on(authn::user_for_access_token(&later, &mine.access)).is_err());
        assert!(store.snapshot().sessions.is_empty());
    }

    #[test]
    fn the_access_token_check_is_one_storage_call_with_its_session_end() {
        let s = settings();
        let store = MemoryStore::new();
        user_with_password(&store, &s, 1, "alice", "", "secret-pw-1");
        let cx = cx(&s, &store);
        let pair = block_on(jwt_create(&cx, "alice", "secret-pw-1"))
            .unwrap()
            .open();
        let before = store.calls.get();
        block_on(authn::user_for_access_token(&cx, &pair.access)).unwrap();
        assert_eq!(store.calls.get() - before, 1);
    }

    #[test]
    fn token_session_ids_hide_the_key_and_never_look_like_a_family() {
        let id = token_session_id("0123456789abcdef0123456789abcdef01234567");
        assert_eq!(id.len(), 16);
        assert!(id.starts_with('t'));
        assert!(!id.contains("0123456789abcdef"));
    }
}
