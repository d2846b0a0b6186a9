//! Maintenance: the scheduled purge of rows whose time is over (spent jtis, revoked families,
//! throttle counters), so D1 does not grow with every refresh and every throttled request.
//!
//! A run deletes in bounded chunks and stops after a bounded number of them: no run holds the
//! database for long, however many rows piled up, and the next run (hourly) continues.

use crate::storage::{EventStore, ExpiredRows, StorageError};

/// Rows deleted per table per chunk.
pub const PURGE_CHUNK: usize = 500;

/// Chunks one run deletes at most.
pub const MAX_PURGE_CHUNKS: usize = 20;

/// What one purge run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Rows deleted, in all tables.
    pub rows: usize,
    /// False when the run stopped at its chunk bound with expired rows possibly left.
    pub complete: bool,
}

/// Runs `chunk` (which deletes at most [`PURGE_CHUNK`] rows per table and says how many went)
/// at most [`MAX_PURGE_CHUNKS`] times; a chunk that deletes fewer than [`PURGE_CHUNK`] ends
/// the run.
async fn in_chunks<F, Fut>(mut chunk: F) -> Result<Purged, StorageError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<usize, StorageError>>,
{
    let mut rows = 0;
    for _ in 0..MAX_PURGE_CHUNKS {
        let removed = chunk().await?;
        rows += removed;
        if removed < PURGE_CHUNK {
            return Ok(Purged {
                rows,
                complete: true,
            });
        }
    }
    Ok(Purged {
        rows,
        complete: false,
    })
}

/// Deletes expired rows (spent jtis, revoked families, throttle counters) in bounded chunks.
pub async fn purge_expired<S: ExpiredRows>(store: &S, now: i64) -> Result<Purged, StorageError> {
    in_chunks(|| store.purge_expired_chunk(now, PURGE_CHUNK)).await
}

/// Deletes events older than `before` (unix seconds) in the same bounded chunks.
pub async fn purge_events<S: EventStore>(store: &S, before: i64) -> Result<Purged, StorageError> {
    in_chunks(|| store.purge_events(before, PURGE_CHUNK)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flows::testing::NOW;
    use crate::storage::memory::{block_on, MemoryStore};
    use crate::storage::{Counter, RefreshArbiter, Spend, ThrottleStore};

    fn counters(prefix: &str, n: usize, expires: i64) -> Vec<Counter> {
        (0..n)
            .map(|i| Counter {
                key: format!("{prefix}{i}"),
                window_start: 0,
                expires,
            })
            .collect()
    }

    #[test]
    fn a_purge_run_deletes_a_bounded_number_of_rows_and_the_next_run_continues() {
        let store = MemoryStore::new();
        let expired = 2 * MAX_PURGE_CHUNKS * PURGE_CHUNK + 7;
        block_on(store.add_hits(&counters("old", expired, NOW - 1))).unwrap();
        block_on(store.add_hits(&counters("live", 3, NOW + 60))).unwrap();
        let rows = || store.snapshot().throttle.len();

        let first = block_on(purge_expired(&store, NOW)).unwrap();
        assert_eq!(
            first,
            Purged {
                rows: MAX_PURGE_CHUNKS * PURGE_CHUNK,
                complete: false
            }
        );
        block_on(purge_expired(&store, NOW)).unwrap();
        let last = block_on(purge_expired(&store, NOW)).unwrap();
        assert_eq!(
            last,
            Purged {
                rows: 7,
                complete: true
            }
        );
        assert_eq!(rows(), 3);
    }

    #[test]
    fn a_purge_removes_expired_rows_of_every_table_and_keeps_live_ones() {
        let store = MemoryStore::new();
        block_on(store.add_hits(&counters("old", 2, NOW - 1))).unwrap();
        block_on(store.add_hits(&counters("live", 1, NOW))).unwrap();
        for (jti, expires) in [("old-jti", NOW - 1), ("live-jti", NOW + 1)] {
            let spend = Spend {
                jti,
                family: "f",
                user_id: "1",
                now: NOW - 10,
                expires,
            };
            assert!(block_on(store.spend_refresh(&spend)).unwrap());
            block_on(store.revoke_family(jti, "1", NOW - 10, expires)).unwrap();
        }
        let done = block_on(purge_expired(&store, NOW)).unwrap();
        assert_eq!(
            done,
            Purged {
                rows: 4,
                complete: true
            }
        );
        let state = store.snapshot();
        assert_eq!(state.throttle.len(), 1);
        assert_eq!(state.spent.keys().collect::<Vec<_>>(), ["live-jti"]);
        assert_eq!(state.revoked.keys().collect::<Vec<_>>(), ["live-jti"]);
    }
}
