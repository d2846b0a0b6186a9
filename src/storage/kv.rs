//! KV adapter: the per-jti record of every issued refresh token (user, family, expiry), written with
//! a KV expiration so that nothing needs cleaning up. Key names stay private to this type.
//!
//! KV is eventually consistent (a write can take up to about 60 s to reach other locations) and has
//! no compare-and-swap, so nothing here decides anything: single use is D1's job
//! (`Store::spend_refresh`), and a token's family is read from its signed jti, not from here.

use worker::KvStore;

use crate::storage::{RefreshRecord, RefreshRecords, Result, StorageError};

/// KV's smallest accepted expiration TTL.
const MIN_TTL: i64 = 60;

/// KV's largest key, in UTF-8 bytes; a longer key makes the call fail.
const MAX_KEY_BYTES: usize = 512;

/// The refresh-token records in the `AUTH_KV` namespace.
pub struct RefreshStore {
    kv: KvStore,
}

impl RefreshStore {
    /// Wraps the `AUTH_KV` binding.
    pub fn new(kv: KvStore) -> Self {
        RefreshStore { kv }
    }

    /// The key of a jti, or `None` when KV could not hold it. Our own jtis are 32 hex characters,
    /// but a validly signed token from another simplejwt issuer may carry any string; such a jti
    /// simply has no record (as if it were issued before KV kept them) rather than a 500.
    fn key(jti: &str) -> Option<String> {
        let key = format!("refresh:{jti}");
        (key.len() <= MAX_KEY_BYTES).then_some(key)
    }
}

impl RefreshRecords for RefreshStore {
    async fn put_record(&self, jti: &str, record: &RefreshRecord, now: i64) -> Result<()> {
        let Some(key) = Self::key(jti) else {
            return Ok(());
        };
        let ttl = record.exp.saturating_sub(now).max(MIN_TTL);
        self.kv
            .put(&key, record)
            .map_err(kv_error)?
            .expiration_ttl(u64::try_from(ttl).unwrap_or(MIN_TTL as u64))
            .execute()
            .await
            .map_err(kv_error)
    }

    async fn delete_record(&self, jti: &str) -> Result<()> {
        match Self::key(jti) {
            Some(key) => self.kv.delete(&key).await.map_err(kv_error),
            None => Ok(()),
        }
    }
}

fn kv_error(e: worker::KvError) -> StorageError {
    StorageError::Backend(format!("kv: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_over_kvs_limit_have_no_record() {
        assert_eq!(
            RefreshStore::key("0123abcd").as_deref(),
            Some("refresh:0123abcd")
        );
        assert!(RefreshStore::key(&"a".repeat(MAX_KEY_BYTES - 8)).is_some());
        assert!(RefreshStore::key(&"a".repeat(MAX_KEY_BYTES - 7)).is_none());
        // The limit is in bytes, not characters.
        assert!(RefreshStore::key(&"ü".repeat(253)).is_none());
    }
}
