//! KV adapter: the session index, one key per live session under a per-user prefix
//! (`session:<user>:<id>`), the record both as the value and as the key's metadata so a list is
//! one prefix scan, written with a KV expiration so that nothing needs cleaning up. Key names
//! stay private to this type.
//!
//! KV is eventually consistent (a write can take up to about 60 s to reach other locations) and
//! has no compare-and-swap, so nothing here decides anything: single use and revocation are
//! D1's job, and a token's session is read from its signed `sid`/`jti`, not from here.

use worker::KvStore;

use crate::storage::{Result, SessionIndex, SessionRecord, StorageError};

/// KV's smallest accepted expiration TTL.
const MIN_TTL: i64 = 60;

/// KV's largest key, in UTF-8 bytes; a longer key makes the call fail.
const MAX_KEY_BYTES: usize = 512;

/// The session index in the `AUTH_KV` namespace.
pub struct RefreshStore {
    kv: KvStore,
}

impl RefreshStore {
    /// Wraps the `AUTH_KV` binding.
    pub fn new(kv: KvStore) -> Self {
        RefreshStore { kv }
    }

    /// The prefix of a user's sessions.
    fn prefix(user_id: &str) -> String {
        format!("session:{user_id}:")
    }

    /// The key of a session, or `None` when KV could not hold it (a validly signed token from
    /// another issuer may carry any user id); such a session simply is not listed.
    fn key(user_id: &str, id: &str) -> Option<String> {
        let key = format!("{}{id}", Self::prefix(user_id));
        (key.len() <= MAX_KEY_BYTES).then_some(key)
    }
}

impl SessionIndex for RefreshStore {
    async fn put_session(&self, record: &SessionRecord, now: i64) -> Result<()> {
        let Some(key) = Self::key(&record.user_id, &record.id) else {
            return Ok(());
        };
        let put = self
            .kv
            .put(&key, record)
            .map_err(kv_error)?
            .metadata(record)
            .map_err(kv_error)?;
        // A DRF token session (expires 0) lives until logout.
        let put = if record.expires > 0 {
            let ttl = record.expires.saturating_sub(now).max(MIN_TTL);
            put.expiration_ttl(u64::try_from(ttl).unwrap_or(MIN_TTL as u64))
        } else {
            put
        };
        put.execute().await.map_err(kv_error)
    }

    async fn sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>> {
        let mut out = Vec::new();
        let mut cursor = None;
        // A user has few sessions; the page loop is bounded all the same.
        for _ in 0..10 {
            let mut list = self.kv.list().prefix(Self::prefix(user_id));
            if let Some(c) = cursor.take() {
                list = list.cursor(c);
            }
            let page = list.execute().await.map_err(kv_error)?;
            out.extend(
                page.keys
                    .into_iter()
                    .filter_map(|k| serde_json::from_value(k.metadata?).ok()),
            );
            match page.cursor.filter(|_| !page.list_complete) {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(out)
    }

    async fn session(&self, user_id: &str, id: &str) -> Result<Option<SessionRecord>> {
        let Some(key) = Self::key(user_id, id) else {
            return Ok(None);
        };
        self.kv
            .get(&key)
            .json::<SessionRecord>()
            .await
            .map_err(kv_error)
    }

    async fn delete_session(&self, user_id: &str, id: &str) -> Result<()> {
        match Self::key(user_id, id) {
            Some(key) => self.kv.delete(&key).await.map_err(kv_error),
            None => Ok(()),
        }
    }
}

fn kv_error(e: worker::KvError) -> StorageError {
    StorageError::Backend(format!("kv: {e}"))
}

/// Social sign-in's short cache of provider documents (discovery documents and JWK Sets), by
/// URL, in `AUTH_KV`. It decides nothing: a miss or a KV failure is a fetch, and a JWK Set that
/// lacks a token's key is fetched again.
pub struct ProviderCache {
    kv: KvStore,
}

/// Seconds a provider document is kept.
pub const PROVIDER_CACHE_TTL: u64 = 300;

impl ProviderCache {
    /// Wraps the `AUTH_KV` binding.
    pub fn new(kv: KvStore) -> Self {
        ProviderCache { kv }
    }

    fn key(url: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(url.as_bytes());
        format!(
            "social_doc:{}",
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    }

    /// The kept copy of `url`, if any.
    pub async fn get(&self, url: &str) -> Option<String> {
        self.kv.get(&Self::key(url)).text().await.ok().flatten()
    }

    /// Keeps `body` as the copy of `url` for [`PROVIDER_CACHE_TTL`] seconds.
    pub async fn put(&self, url: &str, body: &str) {
        if let Ok(put) = self.kv.put(&Self::key(url), body) {
            let _ = put.expiration_ttl(PROVIDER_CACHE_TTL).execute().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sit_under_the_users_prefix_and_over_long_ones_are_refused() {
        assert_eq!(
            RefreshStore::key("7", "0123abcd").as_deref(),
            Some("session:7:0123abcd")
        );
        assert!(RefreshStore::key("7", &"a".repeat(MAX_KEY_BYTES - 10)).is_some());
        assert!(RefreshStore::key("7", &"a".repeat(MAX_KEY_BYTES - 9)).is_none());
        // The limit is in bytes, not characters.
        assert!(RefreshStore::key("ü", &"a".repeat(MAX_KEY_BYTES - 10)).is_none());
    }
}
