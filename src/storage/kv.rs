//! KV adapter: the per-jti record of every issued refresh token (user, family, expiry), written with
//! a KV expiration so that nothing needs cleaning up. Key names stay private to this type.
//!
//! KV is eventually consistent (a write can take up to about 60 s to reach other locations) and has
//! no compare-and-swap, so nothing here decides single use: that is D1's job (`Store::spend_refresh`).

use serde::{Deserialize, Serialize};
use worker::KvStore;

/// What is remembered about one issued refresh token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefreshRecord {
    /// The token's user_id claim.
    pub user_id: String,
    /// The family: the jti of the refresh token the login issued.
    pub family: String,
    /// The token's exp (unix seconds).
    pub exp: i64,
}

/// KV's smallest accepted expiration TTL.
const MIN_TTL: i64 = 60;

/// The refresh-token records in the `AUTH_KV` namespace.
pub struct RefreshStore {
    kv: KvStore,
}

impl RefreshStore {
    /// Wraps the `AUTH_KV` binding.
    pub fn new(kv: KvStore) -> Self {
        RefreshStore { kv }
    }

    fn key(jti: &str) -> String {
        format!("refresh:{jti}")
    }

    /// Stores the record until the token expires.
    pub async fn put(
        &self,
        jti: &str,
        record: &RefreshRecord,
        now: i64,
    ) -> Result<(), worker::KvError> {
        let ttl = record.exp.saturating_sub(now).max(MIN_TTL);
        self.kv
            .put(&Self::key(jti), record)?
            .expiration_ttl(u64::try_from(ttl).unwrap_or(MIN_TTL as u64))
            .execute()
            .await
    }

    /// The record of a jti, if this service issued it and it has not expired.
    pub async fn get(&self, jti: &str) -> Result<Option<RefreshRecord>, worker::KvError> {
        self.kv.get(&Self::key(jti)).json().await
    }
}
